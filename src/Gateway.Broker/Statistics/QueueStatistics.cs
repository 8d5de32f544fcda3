namespace Gateway.Broker.Statistics;

/// <summary>
/// Monotonic message counters of one queue, incremented with <see cref="Interlocked"/> where the messages move (no
/// lock of their own), and the rates the statistics sampler last computed from them.
/// </summary>
public sealed class QueueStatistics
{
    private const int Counters = 5;
    private long _published, _delivered, _acked, _redelivered, _deadLettered;
    private volatile MessageRates _rates = MessageRates.Zero;
    private RateWindow? _window;

    /// <summary>Messages that entered the queue (routed to it, not recovered from disk).</summary>
    public long Published => Interlocked.Read(ref _published);
    /// <summary>Deliveries to consumers and pulls, redeliveries included.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);
    /// <summary>Deliveries acknowledged.</summary>
    public long Acknowledged => Interlocked.Read(ref _acked);
    /// <summary>Deliveries of messages that had been delivered before.</summary>
    public long Redelivered => Interlocked.Read(ref _redelivered);
    /// <summary>Messages dead-lettered from this queue.</summary>
    public long DeadLettered => Interlocked.Read(ref _deadLettered);

    /// <summary>
    /// The rates over the last window, as of the last sample (<see cref="MessageBroker.SampleStatistics"/>): all zero
    /// until the queue has been sampled once.
    /// </summary>
    public MessageRates Rates => _rates;

    internal void RecordPublished() => Interlocked.Increment(ref _published);

    internal void RecordDelivered(bool redelivered)
    {
        Interlocked.Increment(ref _delivered);
        if (redelivered) Interlocked.Increment(ref _redelivered);
    }

    internal void RecordAcknowledged(int count) => Interlocked.Add(ref _acked, count);

    /// <summary>
    /// Counts a message dead-lettered from this queue (rejected without requeue, expired or dropped by a length limit
    /// when the queue has a dead-letter exchange). Called by dead-lettering; feeds <see cref="MessageRates.DeadLetter"/>.
    /// </summary>
    public void RecordDeadLettered() => Interlocked.Increment(ref _deadLettered);

    internal void Sample(long timestamp, long window, long frequency, int capacity)
    {
        Span<long> values = [Published, Delivered, Acknowledged, Redelivered, DeadLettered];
        _window ??= new RateWindow(Counters, capacity, CreatedAt);
        _window.Add(timestamp, values);
        if (_window.Rates(window, frequency) is { } r) _rates = new MessageRates(r[0], r[1], r[2], r[3], r[4]);
    }

    /// <summary>When the queue was created (a timestamp of the broker's clock): every counter was 0 then.</summary>
    internal long CreatedAt { get; init; }
}
