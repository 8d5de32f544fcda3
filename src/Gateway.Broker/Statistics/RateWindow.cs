namespace Gateway.Broker.Statistics;

/// <summary>
/// The last samples of a set of monotonic counters, for rates over a sliding window. Written and read only by the
/// sampler (under its lock), never on the message path.
/// </summary>
internal sealed class RateWindow
{
    private readonly long[] _times;
    private readonly long[][] _values;
    private int _newest = -1;
    private int _count;

    /// <param name="counters">How many counters each sample holds.</param>
    /// <param name="capacity">How many samples are kept.</param>
    /// <param name="start">The timestamp at which every counter was 0 (the object's creation).</param>
    public RateWindow(int counters, int capacity, long start)
    {
        _times = new long[capacity];
        _values = new long[capacity][];
        for (var i = 0; i < capacity; i++) _values[i] = new long[counters];
        Add(start, new long[counters]);
    }

    /// <summary>Records the counters' values at <paramref name="timestamp"/>.</summary>
    public void Add(long timestamp, ReadOnlySpan<long> values)
    {
        _newest = (_newest + 1) % _times.Length;
        _times[_newest] = timestamp;
        values.CopyTo(_values[_newest]);
        if (_count < _times.Length) _count++;
    }

    /// <summary>
    /// Per-second rates between the newest sample and the oldest one no older than <paramref name="window"/> before it
    /// (timestamps in <paramref name="frequency"/> units per second). Null before there are two samples.
    /// </summary>
    public double[]? Rates(long window, long frequency)
    {
        if (_count < 2) return null;
        var newestTime = _times[_newest];
        var oldest = _newest;
        for (var i = 1; i < _count; i++)
        {
            var index = (_newest - i + _times.Length) % _times.Length;
            if (newestTime - _times[index] > window) break;
            oldest = index;
        }
        // Every sample is older than the window (the sampler stalled): use the previous one rather than none.
        if (oldest == _newest) oldest = (_newest - 1 + _times.Length) % _times.Length;
        var seconds = (double)(newestTime - _times[oldest]) / frequency;
        var rates = new double[_values[_newest].Length];
        if (seconds <= 0) return rates;
        for (var c = 0; c < rates.Length; c++) rates[c] = (_values[_newest][c] - _values[oldest][c]) / seconds;
        return rates;
    }
}
