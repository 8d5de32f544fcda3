using System.Text;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;

namespace Gateway.Storage.Tests;

public sealed class RecoveryTests
{
    private static readonly MessageProperties Persistent = new() { DeliveryMode = 2 };

    private static Message Msg(string text, MessageProperties? p = null) => new("", "q", p ?? Persistent, Encoding.UTF8.GetBytes(text));

    [Fact]
    public async Task Persistent_messages_of_a_durable_queue_survive_a_restart_in_order()
    {
        await using var temp = new TempStore();
        var broker = temp.Broker();
        var vhost = broker.GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("q"));
        for (var i = 0; i < 100; i++) await vhost.PublishAsync("", Msg($"m{i}"));
        await vhost.PublishAsync("", Msg("transient", MessageProperties.Empty));
        await temp.RestartAsync();

        var again = temp.Broker(out var recovered).GetVhost("default")!;
        Assert.Equal(100, recovered.Messages);
        var q = again.GetQueue("q")!;
        var got = q.Take(1000, TimeSpan.FromMinutes(1));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"m{i}"), got.Select(d => Encoding.UTF8.GetString(d.Message.Body.Span)));
        Assert.All(got, d => Assert.False(d.Redelivered));
    }

    [Fact]
    public async Task Acked_messages_do_not_come_back_and_unacked_come_back_redelivered()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var q = vhost.DeclareQueue(new QueueDefinition("q")).Queue;
        for (var i = 0; i < 4; i++) await vhost.PublishAsync("", Msg($"m{i}"));
        var got = q.Take(2, TimeSpan.FromMinutes(1));
        await q.AckAsync([got[0].Tag]);
        await temp.RestartAsync();

        var again = temp.Broker().GetVhost("default")!.GetQueue("q")!;
        var after = again.Take(10, TimeSpan.FromMinutes(1));
        Assert.Equal(["m1", "m2", "m3"], after.Select(d => Encoding.UTF8.GetString(d.Message.Body.Span)));
        Assert.Equal([true, false, false], after.Select(d => d.Redelivered));
        Assert.Equal([2, 1, 1], after.Select(d => d.DeliveryCount));
    }

    [Fact]
    public async Task Durable_topology_survives_and_transient_topology_does_not()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareExchange(new ExchangeDefinition("durable-x", ExchangeType.Topic, Arguments: new Dictionary<string, object?> { ["alternate-exchange"] = "ae" }));
        vhost.DeclareExchange(new ExchangeDefinition("transient-x", ExchangeType.Fanout, Durable: false));
        vhost.DeclareQueue(new QueueDefinition("durable-q"));
        vhost.DeclareQueue(new QueueDefinition("transient-q", Durable: false));
        vhost.Bind(new Gateway.Broker.Topology.Binding("durable-x", "durable-q", Gateway.Broker.Topology.BindingDestinationType.Queue, "a.#", null));
        vhost.Bind(new Gateway.Broker.Topology.Binding("durable-x", "transient-q", Gateway.Broker.Topology.BindingDestinationType.Queue, "b.#", null));
        await temp.RestartAsync();

        var again = temp.Broker().GetVhost("default")!;
        Assert.NotNull(again.GetExchange("durable-x"));
        Assert.Equal("ae", again.GetExchange("durable-x")!.AlternateExchange);
        Assert.Null(again.GetExchange("transient-x"));
        Assert.NotNull(again.GetQueue("durable-q"));
        Assert.Null(again.GetQueue("transient-q"));
        var binding = Assert.Single(again.ListBindings());
        Assert.Equal("a.#", binding.RoutingKey);
    }
}
