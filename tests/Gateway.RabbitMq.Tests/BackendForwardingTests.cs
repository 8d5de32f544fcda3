using System.Diagnostics;
using Gateway.Broker;
using Gateway.Broker.Queues;
using Gateway.Testing;

namespace Gateway.RabbitMq.Tests;

/// <summary>
/// Two gateway nodes (two <see cref="RabbitMqBroker"/>s with different node names) on one cluster: a delivery pulled
/// through one is settled through the other, which forwards it to the owner.
/// </summary>
[Collection(RabbitMqClusterFixture.Collection)]
public sealed class BackendForwardingTests(RabbitMqClusterFixture fixture) : BackendTestBase(fixture)
{
    private RabbitMqBroker _other = null!;
    private IBrokerVhost _otherVhost = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _other = new RabbitMqBroker(DefaultOptions());
        _otherVhost = (await _other.GetVhostAsync("default"))!;
    }

    public override async Task DisposeAsync()
    {
        await _other.DisposeAsync();
        await base.DisposeAsync();
    }

    private async Task<(IBrokerQueue OnA, IBrokerQueue OnB, string Name)> QueueOnBothAsync(params string[] bodies)
    {
        var name = Unique("q.fwd");
        var onA = await QueueAsync(name);
        foreach (var body in bodies) await Vhost.PublishAsync("", Text(name, body));
        return (onA, (await _otherVhost.GetQueueAsync(name))!, name);
    }

    [Fact]
    public async Task An_ack_reaching_another_node_is_forwarded_to_the_owner_and_the_message_is_gone()
    {
        var (onA, onB, name) = await QueueOnBothAsync("a");
        var got = await onA.GetAsync(1, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
        Assert.False(_other.IsLocal(got[0].Tag));

        await onB.AckAsync([got[0].Tag]);

        Assert.Empty(await onA.GetAsync(1, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(30)));
        Assert.Equal(0, (await onA.GetStatusAsync()).MessagesUnacknowledged);
        var again = await Assert.ThrowsAsync<BrokerException>(() => onB.AckAsync([got[0].Tag]));
        Assert.Equal(BrokerError.NotFound, again.Error);   // the owner's own answer, rethrown
        await Vhost.DeleteQueueAsync(name);
    }

    [Fact]
    public async Task A_nack_with_requeue_reaching_another_node_returns_the_message()
    {
        var (onA, onB, name) = await QueueOnBothAsync("a");
        var got = await onA.GetAsync(1, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));

        await onB.NackAsync([got[0].Tag], requeue: true);

        var back = await onB.GetAsync(1, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
        Assert.Equal("a", BodyOf(back[0]));
        Assert.True(back[0].Redelivered);
        Assert.True(_other.IsLocal(back[0].Tag));
        await onA.AckAsync([back[0].Tag]);   // and the other way round
        await Vhost.DeleteQueueAsync(name);
    }

    [Fact]
    public async Task A_lease_extension_reaching_another_node_is_forwarded_and_keeps_the_delivery()
    {
        var (onA, onB, name) = await QueueOnBothAsync("a");
        var got = await onA.GetAsync(1, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1));

        await onB.ExtendLeasesAsync([got[0].Tag], TimeSpan.FromSeconds(30));
        await Task.Delay(1800);

        await onB.AckAsync([got[0].Tag]);
        Assert.Empty(await onA.GetAsync(1, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(30)));
        await Vhost.DeleteQueueAsync(name);
    }

    [Fact]
    public async Task A_settlement_for_a_node_that_is_gone_answers_lease_expired_at_once_and_the_message_comes_back()
    {
        var (onA, onB, name) = await QueueOnBothAsync("a");
        var got = await onA.GetAsync(1, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30));
        await Broker.DisposeAsync();   // node A goes: its connections close, RabbitMQ requeues what it held

        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<BrokerException>(() => onB.AckAsync([got[0].Tag]));
        Assert.Equal(BrokerError.LeaseExpired, e.Error);
        Assert.Contains("gone", e.Message);
        Assert.Contains("requeued", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"took {clock.Elapsed}");

        var back = await onB.GetAsync(1, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30));
        Assert.Equal("a", BodyOf(back[0]));
        Assert.True(back[0].Redelivered);
        await onB.AckAsync([back[0].Tag]);
        await _otherVhost.DeleteQueueAsync(name);
        Broker = new RabbitMqBroker(DefaultOptions());   // for DisposeAsync
    }

    [Fact]
    public async Task A_tag_of_a_node_that_never_lived_answers_lease_expired()
    {
        var (_, onB, name) = await QueueOnBothAsync();
        var e = await Assert.ThrowsAsync<BrokerException>(() => onB.AckAsync([new DeliveryTag(0xdeadbeefUL << 32 | 1, 1)]));
        Assert.Equal(BrokerError.LeaseExpired, e.Error);
        var extend = await Assert.ThrowsAsync<BrokerException>(async () => await onB.ExtendLeasesAsync([new DeliveryTag(0xdeadbeefUL << 32 | 1, 1)], TimeSpan.FromSeconds(5)));
        Assert.Equal(BrokerError.LeaseExpired, extend.Error);
        await Vhost.DeleteQueueAsync(name);
    }
}
