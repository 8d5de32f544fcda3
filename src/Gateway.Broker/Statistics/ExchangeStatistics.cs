namespace Gateway.Broker.Statistics;

/// <summary>
/// Monotonic message counters of one exchange, incremented with <see cref="Interlocked"/> on the publish path (no
/// lock), and the rates the statistics sampler last computed from them.
/// </summary>
public sealed class ExchangeStatistics
{
    private const int Counters = 2;
    private long _publishedIn, _publishedOut;
    private volatile ExchangeRates _rates = ExchangeRates.Zero;
    private RateWindow? _window;

    /// <summary>Messages published to the exchange.</summary>
    public long PublishedIn => Interlocked.Read(ref _publishedIn);
    /// <summary>Messages routed from the exchange into queues, one per queue reached.</summary>
    public long PublishedOut => Interlocked.Read(ref _publishedOut);

    /// <summary>The rates over the last window, as of the last sample; all zero until sampled once.</summary>
    public ExchangeRates Rates => _rates;

    internal void RecordPublished(int queues)
    {
        Interlocked.Increment(ref _publishedIn);
        if (queues > 0) Interlocked.Add(ref _publishedOut, queues);
    }

    internal void Sample(long timestamp, long window, long frequency, int capacity)
    {
        Span<long> values = [PublishedIn, PublishedOut];
        _window ??= new RateWindow(Counters, capacity, CreatedAt);
        _window.Add(timestamp, values);
        if (_window.Rates(window, frequency) is { } r) _rates = new ExchangeRates(r[0], r[1]);
    }

    /// <summary>When the exchange was created (a timestamp of the broker's clock): every counter was 0 then.</summary>
    internal long CreatedAt { get; init; }
}
