namespace Gateway.Benchmarks;

/// <summary>
/// A clock the benchmark moves by hand, so that leases taken during a benchmark can be made due and swept
/// (the broker's own sweep timer is switched off so that it does not run on the other core meanwhile).
/// </summary>
public sealed class ManualClock : TimeProvider
{
    private long _ticks = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Volatile.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
