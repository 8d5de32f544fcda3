namespace Gateway.Broker.Queues;

/// <summary>
/// Wake-ups of queues that have something due: a message's TTL, a delayed message, an unused queue's expiry. One
/// timer for the whole broker, armed for the earliest wake-up; each queue keeps its own deadlines in heaps and asks
/// for at most one wake-up at a time, so a million scheduled messages cost heap entries, not timers.
/// </summary>
internal sealed class QueueTimers : IDisposable
{
    private readonly PriorityQueue<MessageQueue, long> _wakeUps = new();
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly ITimer? _timer;
    private long _armedFor = long.MaxValue;
    private bool _paused;

    /// <param name="time">The clock.</param>
    /// <param name="automatic">False: no timer runs; the owner calls <see cref="RunDue"/> (tests with a manual clock).</param>
    public QueueTimers(TimeProvider time, bool automatic)
    {
        _time = time;
        if (automatic) _timer = time.CreateTimer(_ => RunDue(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    public long NowTicks => _time.GetUtcNow().UtcTicks;

    /// <summary>Asks for <paramref name="queue"/>'s <see cref="MessageQueue.OnTimer"/> to run at <paramref name="dueTicks"/> (UTC ticks) or soon after.</summary>
    public void Schedule(MessageQueue queue, long dueTicks)
    {
        lock (_lock)
        {
            _wakeUps.Enqueue(queue, dueTicks);
            if (dueTicks < _armedFor) Arm(dueTicks);
        }
    }

    /// <summary>
    /// Holds every wake-up until <see cref="Resume"/>: recovery fills queues without their locks, so no queue may be
    /// woken meanwhile (it would run concurrently with the filling). Wake-ups asked for meanwhile are kept.
    /// </summary>
    public void Pause()
    {
        lock (_lock) _paused = true;
    }

    /// <summary>Ends <see cref="Pause"/>: the timer is armed for the earliest wake-up kept.</summary>
    public void Resume()
    {
        lock (_lock)
        {
            _paused = false;
            _armedFor = long.MaxValue;
            if (_wakeUps.TryPeek(out _, out var next)) Arm(next);
        }
    }

    /// <summary>Wakes every queue whose time has come; returns how many were woken (none while paused).</summary>
    public int RunDue()
    {
        var now = NowTicks;
        List<MessageQueue>? due = null;
        lock (_lock)
        {
            if (_paused) return 0;
            while (_wakeUps.TryPeek(out var queue, out var at) && at <= now)
            {
                _wakeUps.Dequeue();
                (due ??= []).Add(queue);
            }
            _armedFor = long.MaxValue;
            if (_wakeUps.TryPeek(out _, out var next)) Arm(next);
        }
        if (due is null) return 0;
        foreach (var queue in due.Distinct()) queue.OnTimer(now);
        return due.Count;
    }

    // Under the lock.
    private void Arm(long dueTicks)
    {
        _armedFor = dueTicks;
        if (_timer is null || _paused) return;
        // Capped: timers take at most about 49 days; a far deadline is simply re-armed when the cap fires.
        var delay = TimeSpan.FromTicks(Math.Clamp(dueTicks - NowTicks, 0, TimeSpan.TicksPerDay));
        // Timers fire on the thread pool; a wake-up a millisecond late is fine, one that never comes is not.
        _timer.Change(delay < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : delay, Timeout.InfiniteTimeSpan);
    }

    public void Dispose() => _timer?.Dispose();
}
