namespace Gateway.Server.Webhooks;

/// <summary>
/// When to try a failed delivery again: exponential backoff with full jitter — before attempt n+1 wait a random time
/// in [0, min(max, initial × 2^(n−1))] — but at least what the endpoint asked for with <c>Retry-After</c>. It gives
/// up after <c>maxAttempts</c> attempts, or when the next attempt would start after <c>maxAge</c> from the first.
/// </summary>
internal sealed class RetrySchedule(TimeSpan initial, TimeSpan max, int? maxAttempts, TimeSpan? maxAge)
{
    /// <summary>The wait before the attempt after <paramref name="attempt"/> (1-based), or null when there is none.</summary>
    /// <param name="attempt">The attempt that just failed.</param>
    /// <param name="sinceFirst">Time since the first attempt began.</param>
    /// <param name="retryAfter">What the endpoint asked for, if anything.</param>
    /// <param name="random">A number in [0, 1).</param>
    public TimeSpan? Next(int attempt, TimeSpan sinceFirst, TimeSpan? retryAfter, double random)
    {
        if (maxAttempts is { } most && attempt >= most) return null;
        // 2^(n-1) overflows nothing: the exponent is capped where initial × 2^k exceeds any max we accept.
        var ceiling = initial.Ticks * Math.Pow(2, Math.Min(attempt - 1, 62));
        var capped = Math.Min(ceiling, max.Ticks);
        var delay = TimeSpan.FromTicks((long)(capped * random));
        if (retryAfter is { } asked && asked > delay) delay = asked;
        if (maxAge is { } age && sinceFirst + delay > age) return null;
        return delay;
    }
}
