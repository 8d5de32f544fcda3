using Gateway.Server.Contracts;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Capacity;

/// <summary>
/// Counts the long polls waiting for messages at once, over all users, up to
/// <see cref="GatewayLimitsOptions.MaxLongPollWaiters"/>: each holds a request, a consumer and a timer while it waits.
/// A poll that finds no free place does not wait: it answers what is ready, or 503 with Retry-After when nothing is.
/// </summary>
public sealed class LongPollWaiters(IOptions<GatewayLimitsOptions> options)
{
    /// <summary>What a refused poll is told to wait, in seconds.</summary>
    public const int RetryAfterSeconds = 1;

    private readonly int _max = options.Value.MaxLongPollWaiters;
    private int _waiting;

    /// <summary>The most waiting at once.</summary>
    public int Max => _max;

    /// <summary>Long polls waiting now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Takes a place; false when all are taken. Every true must be followed by one <see cref="Exit"/>.</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _waiting) <= _max) return true;
        Interlocked.Decrement(ref _waiting);
        return false;
    }

    /// <summary>Gives a place back.</summary>
    public void Exit() => Interlocked.Decrement(ref _waiting);
}
