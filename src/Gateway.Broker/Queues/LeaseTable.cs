namespace Gateway.Broker.Queues;

/// <summary>
/// Deadlines of leased (pulled, unacknowledged) deliveries across all queues. A timer returns expired ones to their
/// queue. Extending a lease adds a later deadline; the stale one is ignored when it comes due, because the queue
/// checks the delivery's current deadline.
/// </summary>
internal sealed class LeaseTable : IDisposable
{
    private readonly PriorityQueue<(MessageQueue Queue, long DeliveryId), long> _deadlines = new();
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly ITimer? _timer;

    public LeaseTable(TimeProvider time, TimeSpan? scanInterval)
    {
        _time = time;
        if (scanInterval is { } interval)
            _timer = time.CreateTimer(_ => ExpireDue(), null, interval, interval);
    }

    public TimeProvider Time => _time;

    public long NowTicks => _time.GetUtcNow().UtcTicks;

    public void Add(MessageQueue queue, long deliveryId, long deadlineTicks)
    {
        lock (_lock) _deadlines.Enqueue((queue, deliveryId), deadlineTicks);
    }

    /// <summary>Returns every delivery whose lease has run out to its queue.</summary>
    public int ExpireDue()
    {
        var now = NowTicks;
        List<(MessageQueue Queue, long DeliveryId)>? due = null;
        lock (_lock)
        {
            while (_deadlines.TryPeek(out var item, out var deadline) && deadline <= now)
            {
                _deadlines.Dequeue();
                (due ??= []).Add(item);
            }
        }
        if (due is null) return 0;
        var expired = 0;
        foreach (var (queue, id) in due)
            if (queue.ExpireLease(id, now)) expired++;
        return expired;
    }

    public void Dispose() => _timer?.Dispose();
}
