using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using static Gateway.Broker.Tests.Fx;

namespace Gateway.Broker.Tests;

public class LeaseTests : IDisposable
{
    private static readonly TimeSpan TenSeconds = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan LongWait = TimeSpan.FromMinutes(5);

    private readonly ManualClock _clock = new();
    private readonly MessageBroker _broker;
    private readonly VirtualHost _vhost;
    private readonly MessageQueue _q;

    public LeaseTests()
    {
        _broker = new MessageBroker(new BrokerOptions { LeaseScanInterval = null, TimeProvider = _clock });
        _vhost = _broker.Default();
        _q = _vhost.Queue("q");
    }

    public void Dispose() => _broker.Dispose();

    private void Send(params string[] bodies)
    {
        foreach (var body in bodies) Assert.Equal(1, _vhost.Send("", "q", body).Queues);
    }

    // ---------------------------------------------------------------- expiry

    [Fact]
    public void Lease_expiry_requeues_the_message_at_its_original_position()
    {
        Send("1", "2");
        var d = _q.Take(1, TenSeconds).Single();

        _clock.Advance(TimeSpan.FromSeconds(11));

        Assert.Equal(1, _broker.ExpireLeases());
        Assert.Equal(0, _q.MessagesUnacknowledged);
        var again = _q.Take(10, TenSeconds);
        Assert.Equal(["1", "2"], again.Select(x => x.Text()));
        Assert.True(again[0].Redelivered);
        Assert.Equal(2, again[0].DeliveryCount);
        Assert.False(again[1].Redelivered);
        Assert.Equal("1", d.Text());
    }

    [Fact]
    public void Lease_is_not_expired_before_its_deadline()
    {
        Send("m");
        _q.Take(1, TenSeconds);

        _clock.Advance(TenSeconds - TimeSpan.FromTicks(1));

        Assert.Equal(0, _broker.ExpireLeases());
        Assert.Equal(1, _q.MessagesUnacknowledged);
    }

    [Fact]
    public void Lease_expires_at_its_deadline()
    {
        Send("m");
        _q.Take(1, TenSeconds);

        _clock.Advance(TenSeconds);

        Assert.Equal(1, _broker.ExpireLeases());
        Assert.Equal(1, _q.MessagesReady);
    }

    [Fact]
    public void Ack_after_expiry_throws_LeaseExpired()
    {
        Send("m");
        var d = _q.Take(1, TenSeconds).Single();
        _clock.Advance(TimeSpan.FromSeconds(11));
        _broker.ExpireLeases();

        var ex = Refused(BrokerError.LeaseExpired, () => _q.Ack([d.Tag]));

        Assert.Contains(d.Tag.ToString(), ex.Message);
        Assert.Equal(1, _q.MessagesReady);
    }

    [Fact]
    public void Ack_after_expiry_throws_LeaseExpired_even_once_the_message_was_taken_again()
    {
        Send("m");
        var first = _q.Take(1, TenSeconds).Single();
        _clock.Advance(TimeSpan.FromSeconds(11));
        _broker.ExpireLeases();
        var second = _q.Take(1, TenSeconds).Single();

        Refused(BrokerError.LeaseExpired, () => _q.Ack([first.Tag]));

        _q.Ack([second.Tag]);
        Assert.Equal(0, _q.MessagesUnacknowledged);
    }

    [Fact]
    public void Nack_after_expiry_throws_LeaseExpired()
    {
        Send("m");
        var d = _q.Take(1, TenSeconds).Single();
        _clock.Advance(TimeSpan.FromSeconds(11));
        _broker.ExpireLeases();

        Refused(BrokerError.LeaseExpired, () => _q.Nack([d.Tag], requeue: false));
        Assert.Equal(1, _q.MessagesReady);
    }

    [Fact]
    public void Acked_delivery_does_not_come_back_when_its_deadline_passes()
    {
        Send("m");
        var d = _q.Take(1, TenSeconds).Single();
        _q.Ack([d.Tag]);

        _clock.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(0, _broker.ExpireLeases());
        Assert.Equal(0, _q.MessagesReady);
    }

    [Fact]
    public void Nacked_and_retaken_delivery_is_governed_by_its_new_lease_only()
    {
        Send("m");
        var first = _q.Take(1, TenSeconds).Single();
        _q.Nack([first.Tag], requeue: true);
        _clock.Advance(TimeSpan.FromSeconds(5));
        _q.Take(1, TenSeconds);

        _clock.Advance(TimeSpan.FromSeconds(6)); // the first lease's deadline has passed, the second's has not

        Assert.Equal(0, _broker.ExpireLeases());
        Assert.Equal(1, _q.MessagesUnacknowledged);
    }

    [Fact]
    public void Leases_expire_across_queues()
    {
        var other = _vhost.Queue("other");
        Send("m");
        _vhost.Send("", "other");
        _q.Take(1, TenSeconds);
        other.Take(1, TimeSpan.FromSeconds(20));

        _clock.Advance(TimeSpan.FromSeconds(15));
        Assert.Equal(1, _broker.ExpireLeases());
        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(1, _broker.ExpireLeases());

        Assert.Equal(1, _q.MessagesReady);
        Assert.Equal(1, other.MessagesReady);
    }

    [Fact]
    public void Subscription_deliveries_without_a_lease_never_expire()
    {
        var c = _q.Subscribe(1);
        Send("m");

        _clock.Advance(TimeSpan.FromDays(1));

        Assert.Equal(0, _broker.ExpireLeases());
        Assert.Equal(1, _q.MessagesUnacknowledged);
        Assert.Single(c.Buffered());
    }

    // ---------------------------------------------------------------- extension

    [Fact]
    public void Extend_moves_the_deadline()
    {
        Send("m");
        var d = _q.Take(1, TenSeconds).Single();
        _clock.Advance(TimeSpan.FromSeconds(5));

        _q.ExtendLeases([d.Tag], TenSeconds); // now due at 15s

        _clock.Advance(TimeSpan.FromSeconds(9)); // 14s
        Assert.Equal(0, _broker.ExpireLeases());
        Assert.Equal(1, _q.MessagesUnacknowledged);
        _clock.Advance(TimeSpan.FromSeconds(1)); // 15s
        Assert.Equal(1, _broker.ExpireLeases());
        Assert.Equal(1, _q.MessagesReady);
    }

    [Fact]
    public void Extend_can_shorten_the_lease()
    {
        Send("m");
        var d = _q.Take(1, TimeSpan.FromMinutes(10));

        _q.ExtendLeases([d.Single().Tag], TimeSpan.FromSeconds(1));
        _clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(1, _broker.ExpireLeases());
    }

    [Fact]
    public void Delivery_can_be_acked_after_its_extended_lease_outlived_the_original_deadline()
    {
        Send("m");
        var d = _q.Take(1, TenSeconds).Single();
        _q.ExtendLeases([d.Tag], TimeSpan.FromMinutes(1));
        _clock.Advance(TimeSpan.FromSeconds(30));
        _broker.ExpireLeases();

        _q.Ack([d.Tag]);

        Assert.Equal(0, _q.MessagesUnacknowledged);
    }

    [Fact]
    public void Extend_after_expiry_throws_LeaseExpired()
    {
        Send("m");
        var d = _q.Take(1, TenSeconds).Single();
        _clock.Advance(TimeSpan.FromSeconds(11));
        _broker.ExpireLeases();

        Refused(BrokerError.LeaseExpired, () => _q.ExtendLeases([d.Tag], TenSeconds));
    }

    [Fact]
    public void Extend_with_an_unknown_tag_extends_none_of_the_batch()
    {
        Send("m");
        var d = _q.Take(1, TenSeconds).Single();

        Refused(BrokerError.NotFound, () => _q.ExtendLeases([d.Tag, new DeliveryTag(_q.Incarnation, 77)], TimeSpan.FromMinutes(5)));

        _clock.Advance(TenSeconds);
        Assert.Equal(1, _broker.ExpireLeases());
    }

    [Fact]
    public void Extend_refuses_a_delivery_held_by_a_subscription()
    {
        var c = _q.Subscribe(1);
        Send("m");
        var d = c.Buffered().Single();

        Refused(BrokerError.InvalidArgument, () => _q.ExtendLeases([d.Tag], TenSeconds));
    }

    // ---------------------------------------------------------------- long-poll

    [Fact]
    public async Task GetAsync_answers_at_once_when_messages_are_ready()
    {
        Send("1", "2", "3");

        var pending = _q.GetAsync(2, LongWait, TenSeconds, CancellationToken.None);

        Assert.True(pending.IsCompletedSuccessfully);
        Assert.Equal(["1", "2"], (await pending).Select(d => d.Text()));
        Assert.Equal(1, _q.MessagesReady);
    }

    [Fact]
    public async Task GetAsync_answers_empty_when_the_wait_elapses()
    {
        var got = await _q.GetAsync(1, TimeSpan.FromMilliseconds(20), TenSeconds, CancellationToken.None).AsTask().WaitAsync(Safety);

        Assert.Empty(got);
        Assert.Equal(0, _q.ConsumerCount);
    }

    [Fact]
    public async Task GetAsync_that_timed_out_leaves_later_messages_in_the_queue()
    {
        await _q.GetAsync(1, TimeSpan.FromMilliseconds(20), TenSeconds, CancellationToken.None).AsTask().WaitAsync(Safety);

        Send("m");

        Assert.Equal(1, _q.MessagesReady);
        Assert.Equal(0, _q.MessagesUnacknowledged);
    }

    [Fact]
    public async Task GetAsync_without_a_wait_answers_empty_at_once()
    {
        var pending = _q.GetAsync(1, TimeSpan.Zero, TenSeconds, CancellationToken.None);

        Assert.True(pending.IsCompletedSuccessfully);
        Assert.Empty(await pending);
    }

    [Fact]
    public async Task GetAsync_answers_a_message_arriving_during_the_wait()
    {
        var pending = _q.GetAsync(5, LongWait, TenSeconds, CancellationToken.None).AsTask();
        Assert.False(pending.IsCompleted);

        Send("m");

        var got = await pending.WaitAsync(Safety);
        Assert.Equal("m", Assert.Single(got).Text());
        Assert.Equal(1, _q.MessagesUnacknowledged);
        Assert.Equal(0, _q.ConsumerCount);
    }

    [Fact]
    public async Task Message_answered_by_a_long_poll_is_leased()
    {
        var pending = _q.GetAsync(1, LongWait, TenSeconds, CancellationToken.None).AsTask();
        Send("m");
        await pending.WaitAsync(Safety);

        _clock.Advance(TenSeconds);

        Assert.Equal(1, _broker.ExpireLeases());
        Assert.Equal(1, _q.MessagesReady);
    }

    [Fact]
    public async Task Message_answered_by_a_long_poll_can_be_acked_and_extended()
    {
        var pending = _q.GetAsync(1, LongWait, TenSeconds, CancellationToken.None).AsTask();
        Send("m");
        var d = (await pending.WaitAsync(Safety)).Single();

        _q.ExtendLeases([d.Tag], TenSeconds);
        _q.Ack([d.Tag]);

        Assert.Equal(0, _q.MessagesUnacknowledged);
    }

    [Fact]
    public async Task Long_poll_waiter_is_not_counted_as_a_consumer()
    {
        using var cts = new CancellationTokenSource();
        var pending = _q.GetAsync(1, LongWait, TenSeconds, cts.Token).AsTask();

        Assert.Equal(0, _q.ConsumerCount);

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Safety));
    }

    [Fact]
    public async Task Cancelling_a_long_poll_throws_and_leaves_no_waiter_behind()
    {
        using var cts = new CancellationTokenSource();
        var pending = _q.GetAsync(1, LongWait, TenSeconds, cts.Token).AsTask();

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Safety));
        Send("m");
        Assert.Equal(1, _q.MessagesReady);
        Assert.Equal(0, _q.MessagesUnacknowledged);
    }

    [Fact]
    public async Task Cancelled_long_poll_never_loses_a_message()
    {
        // Publish and cancellation race: whichever wins, the message is either answered or back in the queue.
        for (var i = 0; i < 200; i++)
        {
            using var cts = new CancellationTokenSource();
            var pending = _q.GetAsync(1, LongWait, TenSeconds, cts.Token).AsTask();
            var publish = Task.Run(() => Send($"m{i}"));
            var cancel = Task.Run(cts.Cancel);
            await Task.WhenAll(publish, cancel).WaitAsync(Safety);

            IReadOnlyList<Delivery> got;
            try
            {
                got = await pending.WaitAsync(Safety);
            }
            catch (OperationCanceledException)
            {
                got = [];
            }

            if (got.Count == 1)
            {
                Assert.Equal(0, _q.MessagesReady);
                _q.Ack([got[0].Tag]);
            }
            else
            {
                Assert.Equal(1, _q.MessagesReady);
                Assert.Equal(0, _q.MessagesUnacknowledged);
                Assert.Equal($"m{i}", _q.DrainTexts().Single());
            }
            Assert.Equal(0, _q.MessagesUnacknowledged);
        }
    }

    [Fact]
    public async Task GetAsync_answers_empty_when_the_queue_is_deleted_during_the_wait()
    {
        var pending = _q.GetAsync(1, LongWait, TenSeconds, CancellationToken.None).AsTask();

        _vhost.DeleteQueue("q");

        Assert.Empty(await pending.WaitAsync(Safety));
    }

    [Fact]
    public async Task GetAsync_on_a_deleted_queue_answers_empty_at_once()
    {
        _vhost.DeleteQueue("q");

        Assert.Empty(await _q.GetAsync(1, LongWait, TenSeconds, CancellationToken.None).AsTask().WaitAsync(Safety));
    }

    [Fact]
    public async Task Long_poll_competes_round_robin_with_subscriptions()
    {
        var c = _q.Subscribe(10);
        var pending = _q.GetAsync(1, LongWait, TenSeconds, CancellationToken.None).AsTask();

        Send("1", "2");

        var got = await pending.WaitAsync(Safety);
        Assert.Equal("2", Assert.Single(got).Text());
        Assert.Equal("1", (await c.NextAsync()).Text());
    }
}
