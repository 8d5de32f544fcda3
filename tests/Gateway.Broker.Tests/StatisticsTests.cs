using Gateway.Broker.Exchanges;
using Gateway.Broker.Statistics;
using Gateway.Broker.Topology;
using static Gateway.Broker.Tests.Fx;

namespace Gateway.Broker.Tests;

/// <summary>Counters, sliding-window rates, the oldest ready message's age and the overview, on a clock the tests move.</summary>
public sealed class StatisticsTests : IDisposable
{
    private readonly ManualClock _clock = new();
    private readonly MessageBroker _broker;
    private readonly VirtualHost _vhost;

    public StatisticsTests()
    {
        _broker = NewBroker(_clock, rateWindow: TimeSpan.FromSeconds(10));
        _vhost = _broker.Default();
    }

    public void Dispose() => _broker.Dispose();

    private void Tick(int seconds = 1)
    {
        _clock.Advance(TimeSpan.FromSeconds(seconds));
        _broker.SampleStatistics();
    }

    [Fact]
    public void Queue_counters_follow_publish_deliver_ack_and_redeliver()
    {
        var q = _vhost.Queue("q");
        for (var i = 0; i < 3; i++) _vhost.Send("", "q", $"m{i}");

        var first = q.Take(2, Lease);
        q.Nack([first[1].Tag], requeue: true);
        var again = q.Take(2, Lease);
        q.Ack([first[0].Tag, .. again.Select(d => d.Tag)]);

        Assert.Equal(3, q.Statistics.Published);
        Assert.Equal(4, q.Statistics.Delivered);
        Assert.Equal(1, q.Statistics.Redelivered);
        Assert.Equal(3, q.Statistics.Acknowledged);
        Assert.Equal(0, q.Statistics.DeadLettered);
    }

    [Fact]
    public void Rates_are_per_second_over_the_window_since_creation()
    {
        var q = _vhost.Queue("q");
        for (var i = 0; i < 20; i++) _vhost.Send("", "q", "x");
        Tick(2);

        Assert.Equal(10.0, q.Statistics.Rates.Publish, 6);
        Assert.Equal(0.0, q.Statistics.Rates.Deliver, 6);
    }

    [Fact]
    public void Rates_slide_the_window_forward_and_fall_to_zero_when_traffic_stops()
    {
        var q = _vhost.Queue("q");
        for (var second = 0; second < 10; second++)
        {
            for (var i = 0; i < 5; i++) _vhost.Send("", "q", "x");
            Tick();
        }
        Assert.Equal(5.0, q.Statistics.Rates.Publish, 6);
        q.Ack(q.TakeAll().Select(d => d.Tag).ToList());
        Tick();
        // The last second's 50 acks, averaged over the 10-second window.
        Assert.Equal(5.0, q.Statistics.Rates.Ack, 6);
        Assert.Equal(4.5, q.Statistics.Rates.Publish, 6);

        for (var i = 0; i < 11; i++) Tick();

        Assert.Equal(MessageRates.Zero, q.Statistics.Rates);
    }

    [Fact]
    public void Dead_letter_rate_comes_from_its_counter()
    {
        var q = _vhost.Queue("q");
        for (var i = 0; i < 4; i++) q.Statistics.RecordDeadLettered();
        Tick(2);

        Assert.Equal(4, q.Statistics.DeadLettered);
        Assert.Equal(2.0, q.Statistics.Rates.DeadLetter, 6);
    }

    // Exchange "fan" (fanout) bound to queues "a" and "b".
    private void FanoutToTwoQueues()
    {
        _vhost.Exchange("fan", ExchangeType.Fanout);
        _vhost.Queue("a");
        _vhost.Queue("b");
        _vhost.BindQueue("fan", "a");
        _vhost.BindQueue("fan", "b");
    }

    [Fact]
    public void Exchange_counts_messages_in_and_copies_out_to_queues()
    {
        FanoutToTwoQueues();
        _vhost.Exchange("empty", ExchangeType.Direct);

        _vhost.Send("fan", "", "1");
        _vhost.Send("fan", "", "2");
        _vhost.Send("empty", "nowhere", "3");
        Tick();

        var fan = _vhost.GetExchangeStatistics("fan")!;
        Assert.Equal((2, 4), (fan.PublishedIn, fan.PublishedOut));
        Assert.Equal(new ExchangeRates(2, 4), fan.Rates);
        var empty = _vhost.GetExchangeStatistics("empty")!;
        Assert.Equal((1, 0), (empty.PublishedIn, empty.PublishedOut));
    }

    [Fact]
    public void An_atomic_batch_counts_on_its_exchange_like_single_publishes()
    {
        FanoutToTwoQueues();

        Assert.NotNull(_vhost.PublishAtomic("fan", [Msg("", "1", exchange: "fan"), Msg("", "2", exchange: "fan")], [false, false], null, out _, out _));

        var fan = _vhost.GetExchangeStatistics("fan")!;
        Assert.Equal((2, 4), (fan.PublishedIn, fan.PublishedOut));
    }

    [Fact]
    public void Exchange_counters_survive_binding_changes()
    {
        _vhost.Exchange("x", ExchangeType.Topic);
        _vhost.Queue("q");
        _vhost.Send("x", "k", "1");
        var binding = _vhost.BindQueue("x", "q", "#");
        _vhost.Send("x", "k", "2");
        _vhost.Unbind(binding.Id);

        Assert.Equal(2, _vhost.GetExchangeStatistics("x")!.PublishedIn);
        Assert.Equal(1, _vhost.GetExchangeStatistics("x")!.PublishedOut);
    }

    [Fact]
    public void Oldest_ready_age_is_null_when_empty_and_counts_from_first_arrival_after_requeue()
    {
        var q = _vhost.Queue("q");
        Assert.Null(q.OldestReadyAge);

        _vhost.Send("", "q", "old");
        _clock.Advance(TimeSpan.FromSeconds(30));
        _vhost.Send("", "q", "new");
        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(TimeSpan.FromSeconds(35), q.OldestReadyAge);

        var old = q.Take(1, Lease);
        Assert.Equal(TimeSpan.FromSeconds(5), q.OldestReadyAge);
        q.Nack([old[0].Tag], requeue: true);
        Assert.Equal(TimeSpan.FromSeconds(35), q.OldestReadyAge);

        q.Ack(q.TakeAll().Select(d => d.Tag).ToList());
        Assert.Null(q.OldestReadyAge);
    }

    [Fact]
    public void Overview_counts_objects_and_messages_and_sums_rates()
    {
        var other = "other";
        _broker.CreateVhost(other);
        var v2 = _broker.GetVhost(other)!;
        var a = _vhost.Queue("a");
        v2.Queue("b");
        _vhost.Exchange("x", ExchangeType.Fanout);
        _vhost.BindQueue("x", "a");
        var consumer = a.Subscribe(1);
        for (var i = 0; i < 3; i++) _vhost.Send("x", "", "m");
        for (var i = 0; i < 2; i++) v2.Send("", "b", "m");
        Tick(5);

        var overview = _broker.GetOverview();

        // Each vhost has the default exchange and five amq.* ones.
        Assert.Equal((2, 13, 2, 1, 1), (overview.Vhosts, overview.Exchanges, overview.Queues, overview.Bindings, overview.Consumers));
        Assert.Equal((4L, 1L, 0L), (overview.MessagesReady, overview.MessagesUnacknowledged, overview.MessagesDelayed));
        Assert.Equal(1.0, overview.Rates.Publish, 6);  // 5 messages published in 5 s
        Assert.Equal(0.2, overview.Rates.Deliver, 6);  // 1 delivery (prefetch 1)
        GC.KeepAlive(consumer);
    }
}
