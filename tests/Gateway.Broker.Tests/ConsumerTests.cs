using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using static Gateway.Broker.Tests.Fx;

namespace Gateway.Broker.Tests;

public class ConsumerTests : IDisposable
{
    private readonly MessageBroker _broker = NewBroker();
    private readonly VirtualHost _vhost;
    private readonly MessageQueue _q;

    public ConsumerTests()
    {
        _vhost = _broker.Default();
        _q = _vhost.Queue("q");
    }

    public void Dispose() => _broker.Dispose();

    private void Send(params string[] bodies)
    {
        foreach (var body in bodies) Assert.Equal(1, _vhost.Send("", "q", body).Queues);
    }

    [Fact]
    public void An_exclusive_subscription_refuses_others_until_it_is_cancelled_but_not_gets()
    {
        var owner = _q.SubscribeExclusive(1);

        Assert.Equal(BrokerError.AccessRefused, Assert.Throws<BrokerException>(() => _q.Subscribe(10)).Error);
        Assert.Equal(BrokerError.AccessRefused, Assert.Throws<BrokerException>(() => _q.SubscribeExclusive(10)).Error);
        Assert.Equal(1, _q.ConsumerCount);
        Send("a");
        Assert.True(owner.Deliveries.TryRead(out var delivery));
        Assert.Equal("a", delivery.Text());
        Send("b");   // the owner is full (prefetch 1); a get is not a subscription and takes it (as basic.get in RabbitMQ)
        Assert.Equal("b", Assert.Single(_q.Take(1, Lease)).Text());

        _q.Cancel(owner);
        var next = _q.Subscribe(10);
        Assert.Equal(BrokerError.AccessRefused, Assert.Throws<BrokerException>(() => _q.SubscribeExclusive(10)).Error);
        _q.Cancel(next);
        _q.Cancel(_q.SubscribeExclusive(10));
    }

    [Fact]
    public async Task Consumer_receives_messages_published_after_it_subscribed_in_order()
    {
        var c = _q.Subscribe(10);

        Send("1", "2", "3");

        Assert.Equal("1", (await c.NextAsync()).Text());
        Assert.Equal("2", (await c.NextAsync()).Text());
        Assert.Equal("3", (await c.NextAsync()).Text());
    }

    [Fact]
    public async Task Consumer_receives_messages_that_were_ready_before_it_subscribed()
    {
        Send("1", "2");

        var c = _q.Subscribe(10);

        Assert.Equal("1", (await c.NextAsync()).Text());
        Assert.Equal("2", (await c.NextAsync()).Text());
        Assert.Equal(0, _q.MessagesReady);
        Assert.Equal(2, _q.MessagesUnacknowledged);
    }

    [Fact]
    public async Task Competing_consumers_receive_messages_round_robin()
    {
        var a = _q.Subscribe(10);
        var b = _q.Subscribe(10);
        var c = _q.Subscribe(10);

        Send("1", "2", "3", "4", "5", "6");

        Assert.Equal(["1", "4"], [(await a.NextAsync()).Text(), (await a.NextAsync()).Text()]);
        Assert.Equal(["2", "5"], [(await b.NextAsync()).Text(), (await b.NextAsync()).Text()]);
        Assert.Equal(["3", "6"], [(await c.NextAsync()).Text(), (await c.NextAsync()).Text()]);
    }

    [Fact]
    public void Prefetch_bounds_the_unacknowledged_deliveries_of_a_consumer()
    {
        var c = _q.Subscribe(2);

        Send("1", "2", "3", "4", "5");

        Assert.Equal(["1", "2"], c.Buffered().Select(d => d.Text()));
        Assert.Equal(2, _q.MessagesUnacknowledged);
        Assert.Equal(3, _q.MessagesReady);
    }

    [Fact]
    public async Task Ack_frees_credit_and_the_next_message_is_delivered()
    {
        var c = _q.Subscribe(1);
        Send("1", "2");
        var first = await c.NextAsync();
        Assert.False(c.Deliveries.TryRead(out _));

        _q.Ack([first.Tag]);

        Assert.Equal("2", (await c.NextAsync()).Text());
    }

    [Fact]
    public async Task Nack_without_requeue_frees_credit_too()
    {
        var c = _q.Subscribe(1);
        Send("1", "2");
        var first = await c.NextAsync();

        _q.Nack([first.Tag], requeue: false);

        Assert.Equal("2", (await c.NextAsync()).Text());
    }

    [Fact]
    public async Task Consumer_with_full_prefetch_is_skipped_in_the_round_robin()
    {
        var small = _q.Subscribe(1);
        var big = _q.Subscribe(10);

        Send("1", "2", "3", "4");

        Assert.Equal("1", (await small.NextAsync()).Text());
        Assert.Equal(["2", "3", "4"], big.Buffered().Select(d => d.Text()));
    }

    [Fact]
    public async Task Nacked_and_requeued_delivery_goes_to_a_consumer_again_marked_redelivered()
    {
        var c = _q.Subscribe(1);
        Send("m");
        var first = await c.NextAsync();

        _q.Nack([first.Tag], requeue: true);

        var again = await c.NextAsync();
        Assert.Equal("m", again.Text());
        Assert.True(again.Redelivered);
        Assert.Equal(2, again.DeliveryCount);
    }

    [Fact]
    public async Task Cancel_requeues_unacked_at_original_positions()
    {
        var c = _q.Subscribe(3);
        Send("1", "2", "3", "4", "5");
        var d1 = await c.NextAsync();
        var d2 = await c.NextAsync();
        _q.Ack([d2.Tag]); // frees credit: "4" is delivered too; "3" and "4" sit unread in the buffer, "5" is ready

        _q.Cancel(c);

        var again = _q.Take(10, Lease);
        Assert.Equal(["1", "3", "4", "5"], again.Select(d => d.Text()));
        // "3" and "4" were still in the buffer, never read: they come back neither redelivered nor counted.
        Assert.Equal([true, false, false, false], again.Select(d => d.Redelivered));
        Assert.Equal([2, 1, 1, 1], again.Select(d => d.DeliveryCount));
        Assert.Equal("1", d1.Text());
    }

    [Fact]
    public async Task Cancel_completes_the_consumers_deliveries()
    {
        var c = _q.Subscribe(1);

        Assert.False(_q.Cancel(c));

        await c.Deliveries.Completion.WaitAsync(Safety);
        Assert.Equal(ConsumerEndReason.Cancelled, c.EndReason);
        Assert.Equal(0, _q.ConsumerCount);
    }

    [Fact]
    public void Cancel_discards_the_consumers_buffered_deliveries()
    {
        var c = _q.Subscribe(5);
        Send("1", "2");

        _q.Cancel(c);

        Assert.False(c.Deliveries.TryRead(out _));
        Assert.Equal(2, _q.MessagesReady);
    }

    [Fact]
    public async Task Cancel_hands_the_unacked_messages_to_the_remaining_consumer()
    {
        var a = _q.Subscribe(10);
        var b = _q.Subscribe(1);
        Send("1", "2", "3");
        // a has 1 and 3, b has 2 and no room.
        var fromB = await b.NextAsync();
        Assert.Equal("2", fromB.Text());

        _q.Cancel(a);
        _q.Ack([fromB.Tag]);

        Assert.Equal("1", (await b.NextAsync()).Text());
    }

    [Fact]
    public void Cancelling_twice_is_harmless()
    {
        var c = _q.Subscribe(1);
        _q.Cancel(c);

        Assert.False(_q.Cancel(c));
    }

    [Fact]
    public void Acking_after_cancel_fails_because_the_messages_went_back()
    {
        var c = _q.Subscribe(1);
        Send("m");
        var d = c.Buffered().Single();
        _q.Cancel(c);

        Refused(BrokerError.NotFound, () => _q.Ack([d.Tag]));
        Assert.Equal(1, _q.MessagesReady);
    }

    [Fact]
    public async Task Queue_deletion_completes_consumers()
    {
        var a = _q.Subscribe(1);
        var b = _q.Subscribe(1);

        _vhost.DeleteQueue("q");

        await a.Deliveries.Completion.WaitAsync(Safety);
        await b.Deliveries.Completion.WaitAsync(Safety);
        Assert.Equal(ConsumerEndReason.QueueDeleted, a.EndReason);
        Assert.Equal(ConsumerEndReason.QueueDeleted, b.EndReason);
        Assert.Equal(0, _q.ConsumerCount);
    }

    [Fact]
    public async Task Deliveries_buffered_when_the_queue_is_deleted_can_still_be_read_but_not_acked()
    {
        var c = _q.Subscribe(1);
        Send("m");

        _vhost.DeleteQueue("q");

        var d = await c.NextAsync();
        await c.Deliveries.Completion.WaitAsync(Safety);
        Refused(BrokerError.NotFound, () => _q.Ack([d.Tag]));
    }

    [Fact]
    public async Task Subscribing_to_a_deleted_queue_ends_at_once()
    {
        _vhost.DeleteQueue("q");

        var c = _q.Subscribe(1);

        await c.Deliveries.Completion.WaitAsync(Safety);
        Assert.Equal(ConsumerEndReason.QueueDeleted, c.EndReason);
    }

    [Fact]
    public void Prefetch_must_be_positive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _q.Subscribe(0));
    }

    [Fact]
    public void Consumer_count_counts_subscriptions()
    {
        var a = _q.Subscribe(1);
        _q.Subscribe(1);
        Assert.Equal(2, _q.ConsumerCount);

        _q.Cancel(a);

        Assert.Equal(1, _q.ConsumerCount);
    }

    [Fact]
    public void Cancelling_the_last_consumer_of_an_auto_delete_queue_asks_for_its_deletion()
    {
        var q = _vhost.Queue("auto", autoDelete: true);
        var a = q.Subscribe(1);
        var b = q.Subscribe(1);

        Assert.False(q.Cancel(a));
        Assert.True(q.Cancel(b));

        _vhost.DeleteIfUnused(q);
        Assert.Null(_vhost.GetQueue("auto"));
        Assert.True(q.IsDeleted);
    }

    [Fact]
    public void Cancelling_the_last_consumer_of_a_durable_queue_keeps_it()
    {
        var c = _q.Subscribe(1);

        Assert.False(_q.Cancel(c));
        Assert.Same(_q, _vhost.GetQueue("q"));
    }

    [Fact]
    public void Auto_delete_queue_with_a_new_consumer_is_not_deleted_by_a_late_cleanup()
    {
        var q = _vhost.Queue("auto", autoDelete: true);
        Assert.True(q.Cancel(q.Subscribe(1)));
        q.Subscribe(1);

        _vhost.DeleteIfUnused(q);

        Assert.Same(q, _vhost.GetQueue("auto"));
    }

    [Fact]
    public async Task Many_publishers_and_competing_consumers_deliver_every_message_exactly_once()
    {
        const int publishers = 4, perPublisher = 500, total = publishers * perPublisher;
        var consumers = Enumerable.Range(0, 3).Select(_ => _q.Subscribe(8)).ToArray();
        var received = new System.Collections.Concurrent.ConcurrentBag<string>();
        var acked = 0;
        var allAcked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var readers = consumers.Select(c => Task.Run(async () =>
        {
            await foreach (var d in c.Deliveries.ReadAllAsync())
            {
                received.Add(d.Text());
                _q.Ack([d.Tag]);
                if (Interlocked.Increment(ref acked) == total) allAcked.SetResult();
            }
        })).ToArray();
        var writers = Enumerable.Range(0, publishers).Select(p => Task.Run(() =>
        {
            for (var i = 0; i < perPublisher; i++) _vhost.Send("", "q", $"{p}:{i}");
        })).ToArray();

        await Task.WhenAll(writers).WaitAsync(Safety);
        await allAcked.Task.WaitAsync(Safety);
        foreach (var c in consumers) _q.Cancel(c);
        await Task.WhenAll(readers).WaitAsync(Safety);

        Assert.Equal(total, received.Count);
        Assert.Equal(total, received.Distinct().Count());
        Assert.Equal(0, _q.MessagesReady);
        Assert.Equal(0, _q.MessagesUnacknowledged);
    }
}
