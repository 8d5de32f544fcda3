using Gateway.Broker.Durability;
using Gateway.Broker.Messages;
using Gateway.Broker.Topology;

namespace Gateway.Broker.Queues;

/// <summary>
/// A FIFO queue of messages with competing consumers, leases and acknowledgements. All state is guarded by the
/// queue's own lock; nothing here waits on I/O while holding it (consumers read from their bounded buffers).
/// </summary>
/// <remarks>
/// Ready messages live in two structures: <c>_ready</c>, in arrival order, and <c>_returned</c>, a heap of requeued
/// messages ordered by their original position. Every delivered message was taken from the head, so a returned
/// message always sorts before everything in <c>_ready</c>: the next message is the heap's minimum if there is one,
/// else the head of <c>_ready</c>. Requeue therefore costs O(log n) and restores the original order.
/// </remarks>
public sealed class MessageQueue
{
    private const int ExpiredTagMemory = 65_536;

    private readonly Lock _lock = new();
    private readonly Queue<QueueEntry> _ready = new();
    private readonly PriorityQueue<QueueEntry, long> _returned = new();
    private readonly Dictionary<long, QueueEntry> _unacked = new();
    private readonly List<QueueConsumer> _consumers = [];
    private readonly HashSet<long> _expiredIds = [];
    private readonly Queue<long> _expiredOrder = new();
    private readonly LeaseTable _leases;
    private readonly IMessageJournal? _journal;
    private int _nextConsumer;
    private long _nextSequence;
    private long _nextDeliveryId;
    private long _readyBytes;
    private bool _deleted;
    private bool _hadConsumer;

    private volatile int _readyCount;
    private volatile int _unackedCount;
    private volatile int _consumerCount;

    internal MessageQueue(VirtualHost vhost, QueueDefinition definition, LeaseTable leases, IMessageJournal? journal, long durableId)
    {
        VirtualHost = vhost;
        Definition = definition;
        _leases = leases;
        _journal = journal;
        DurableId = journal is null ? 0 : durableId;
        Incarnation = (ulong)Random.Shared.NextInt64() | 1UL;
        Target = new RouteTarget(this);
    }

    /// <summary>The queue's declaration.</summary>
    public QueueDefinition Definition { get; }
    /// <summary>The queue's name.</summary>
    public string Name => Definition.Name;
    /// <summary>The vhost the queue lives in.</summary>
    public VirtualHost VirtualHost { get; }
    /// <summary>The journal's key for this queue's messages; 0 when the queue keeps nothing on disk.</summary>
    public long DurableId { get; }
    /// <summary>Random per queue instance (and process lifetime); part of every delivery tag.</summary>
    public ulong Incarnation { get; }
    /// <summary>Messages waiting to be delivered.</summary>
    public int MessagesReady => _readyCount;
    /// <summary>Messages delivered and not yet acknowledged.</summary>
    public int MessagesUnacknowledged => _unackedCount;
    /// <summary>Active subscriptions (long-poll waiters are not counted).</summary>
    public int ConsumerCount => _consumerCount;
    /// <summary>Payload bytes of the ready messages.</summary>
    public long MessageBytesReady => Interlocked.Read(ref _readyBytes);
    /// <summary>True once the queue has been deleted.</summary>
    public bool IsDeleted => Volatile.Read(ref _deleted);

    internal RouteTarget Target { get; }

    /// <summary>
    /// Appends a message. A persistent message in a durable queue is handed to the journal here, under the lock and
    /// before any consumer can see it, so that its insert always precedes its removal in the journal.
    /// </summary>
    internal EnqueueResult Enqueue(Message message, JournalTicket? ticket)
    {
        lock (_lock)
        {
            if (_deleted) return EnqueueResult.Deleted;
            var entry = new QueueEntry(message, ++_nextSequence);
            if (_journal is not null && message.Properties.IsPersistent)
            {
                entry.Journaled = true;
                Interlocked.Increment(ref message.DurableReferences);
                ticket?.Add();
                _journal.Insert(message, DurableId, entry.Sequence, ticket);
            }
            _ready.Enqueue(entry);
            _readyBytes += message.Body.Length;
            if (_consumers.Count > 0) Dispatch();
            UpdateCounts();
            return entry.Journaled ? EnqueueResult.Journaled : EnqueueResult.InMemory;
        }
    }

    /// <summary>
    /// Puts back a message read from the journal at start, at its stored position. Recovery only: the queue is not
    /// yet visible to publishers or consumers, so no lock is taken; <see cref="CompleteRestore"/> publishes the counts.
    /// </summary>
    internal void Restore(long sequence, int deliveryCount, Message message)
    {
        var entry = new QueueEntry(message, sequence) { DeliveryCount = deliveryCount, Redelivered = deliveryCount > 0, Journaled = true };
        message.DurableReferences++;
        _ready.Enqueue(entry);
        _readyBytes += message.Body.Length;
        if (sequence > _nextSequence) _nextSequence = sequence;
    }

    /// <summary>Ends recovery of this queue.</summary>
    internal void CompleteRestore()
    {
        lock (_lock) UpdateCounts();
    }

    /// <summary>Takes up to <paramref name="max"/> ready messages, each leased for <paramref name="lease"/>.</summary>
    public IReadOnlyList<Delivery> Take(int max, TimeSpan lease)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        lock (_lock)
        {
            if (_deleted || ReadyTotal == 0) return [];
            var deadline = _leases.NowTicks + lease.Ticks;
            var result = new List<Delivery>(Math.Min(max, ReadyTotal));
            while (result.Count < max && ReadyTotal > 0)
                result.Add(Deliver(TakeNext(), owner: null, deadline));
            UpdateCounts();
            return result;
        }
    }

    /// <summary>
    /// Long-poll: takes up to <paramref name="max"/> messages, waiting up to <paramref name="wait"/> for the first.
    /// </summary>
    /// <remarks>
    /// The cases, each handled below:
    /// <list type="number">
    /// <item>Messages are ready: answered at once, without waiting.</item>
    /// <item>The wait elapses with nothing delivered: an empty answer.</item>
    /// <item>A message arrives while waiting: the waiter, registered as a consumer with prefetch <paramref name="max"/>,
    /// receives it; it is then detached and answers what it got (and anything that arrived with it).</item>
    /// <item>The caller goes away (<paramref name="cancellationToken"/>) while waiting: the waiter is detached and
    /// anything it was handed meanwhile goes back to its place in the queue; OperationCanceledException is thrown.</item>
    /// <item>The queue is deleted while waiting: an empty answer.</item>
    /// </list>
    /// Deliveries answered are leased; if the caller cannot pass them on (its client went away before the answer was
    /// written) it must <see cref="Nack"/> them with requeue so that they are not lost until the lease ends.
    /// </remarks>
    public async ValueTask<IReadOnlyList<Delivery>> GetAsync(int max, TimeSpan wait, TimeSpan lease, CancellationToken cancellationToken)
    {
        var immediate = Take(max, lease);
        if (immediate.Count > 0 || wait <= TimeSpan.Zero || IsDeleted) return immediate;

        var waiter = Subscribe(max, lease, isPull: true);
        using var elapsed = new CancellationTokenSource(wait, _leases.Time);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, elapsed.Token);
        try
        {
            await waiter.Deliveries.WaitToReadAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The wait elapsed: fall through and answer whatever arrived in the meantime (usually nothing).
        }
        catch (OperationCanceledException)
        {
            // Handed over but never seen by anyone: back to their places, not counted as delivered.
            var handed = Detach(waiter);
            lock (_lock)
            {
                foreach (var delivery in handed)
                    if (_unacked.TryGetValue(delivery.Tag.Id, out var entry)) Requeue(entry, seen: false);
                Dispatch();
                UpdateCounts();
            }
            throw;
        }
        return Detach(waiter);
    }

    /// <summary>
    /// Adds a subscription that receives up to <paramref name="prefetch"/> unacknowledged deliveries. They stay with it
    /// until acknowledged, rejected or the subscription is cancelled (no lease: the connection is the lease).
    /// </summary>
    public QueueConsumer Subscribe(int prefetch) => Subscribe(prefetch, null, isPull: false);

    private QueueConsumer Subscribe(int prefetch, TimeSpan? lease, bool isPull)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(prefetch, 1);
        var consumer = new QueueConsumer(this, prefetch, lease, isPull);
        lock (_lock)
        {
            if (_deleted)
            {
                consumer.EndReason = ConsumerEndReason.QueueDeleted;
                consumer.Channel.Writer.TryComplete();
                return consumer;
            }
            _consumers.Add(consumer);
            if (!isPull) _hadConsumer = true;
            Dispatch();
            UpdateCounts();
        }
        return consumer;
    }

    /// <summary>
    /// Ends a subscription. Its unacknowledged deliveries return to their original positions, marked redelivered;
    /// those still in its buffer, which its reader never saw, return unmarked and not counted as delivered.
    /// </summary>
    /// <returns>True when the queue is auto-delete and this was its last consumer: the caller deletes the queue.</returns>
    public bool Cancel(QueueConsumer consumer)
    {
        lock (_lock)
        {
            if (!_consumers.Remove(consumer)) return false;
            consumer.EndReason = ConsumerEndReason.Cancelled;
            consumer.Channel.Writer.TryComplete();
            HashSet<long>? unseen = null;
            while (consumer.Channel.Reader.TryRead(out var buffered)) (unseen ??= []).Add(buffered.Tag.Id);
            if (consumer.InFlight > 0)
            {
                var owned = _unacked.Values.Where(e => e.Owner == consumer).ToList();
                foreach (var entry in owned) Requeue(entry, seen: unseen?.Contains(entry.DeliveryId) != true);
                consumer.InFlight = 0;
            }
            Dispatch();
            UpdateCounts();
            return Definition.AutoDelete && _hadConsumer && _consumerCount == 0 && !_deleted;
        }
    }

    // Removes a long-poll waiter and hands over what it was given; those deliveries keep their leases. The lease
    // table is told again, because a scan that ran while the waiter held them skipped them (they had an owner).
    private List<Delivery> Detach(QueueConsumer waiter)
    {
        var handed = new List<Delivery>();
        lock (_lock)
        {
            _consumers.Remove(waiter);
            waiter.Channel.Writer.TryComplete();
            while (waiter.Channel.Reader.TryRead(out var delivery)) handed.Add(delivery);
            foreach (var d in handed)
            {
                if (!_unacked.TryGetValue(d.Tag.Id, out var entry)) continue;
                entry.Owner = null;
                _leases.Add(this, entry.DeliveryId, entry.LeaseDeadline);
            }
            waiter.InFlight = 0;
            UpdateCounts();
        }
        return handed;
    }

    /// <summary>
    /// Acknowledges deliveries: all or none. Throws <see cref="BrokerException"/> naming the first bad tag. Completes
    /// when the acknowledgement is durable (at once unless a persistent message left a durable queue).
    /// </summary>
    public Task AckAsync(IReadOnlyCollection<DeliveryTag> tags)
    {
        var ticket = _journal is null ? null : new JournalTicket();
        lock (_lock)
        {
            foreach (var entry in Resolve(tags)) Settle(entry, ticket);
            Dispatch();
            UpdateCounts();
        }
        return Committed(ticket);
    }

    /// <summary>Acknowledges and waits until that is durable; see <see cref="AckAsync"/>.</summary>
    public void Ack(IReadOnlyCollection<DeliveryTag> tags) => AckAsync(tags).GetAwaiter().GetResult();

    /// <summary>
    /// Rejects deliveries: all or none. With <paramref name="requeue"/> they return to their original positions,
    /// marked redelivered; without, they are dropped.
    /// </summary>
    public Task NackAsync(IReadOnlyCollection<DeliveryTag> tags, bool requeue)
    {
        var ticket = _journal is null ? null : new JournalTicket();
        lock (_lock)
        {
            foreach (var entry in Resolve(tags))
            {
                if (requeue) { Release(entry); Requeue(entry); }
                else Settle(entry, ticket);
            }
            Dispatch();
            UpdateCounts();
        }
        return Committed(ticket);
    }

    /// <summary>Rejects and waits until that is durable; see <see cref="NackAsync"/>.</summary>
    public void Nack(IReadOnlyCollection<DeliveryTag> tags, bool requeue) => NackAsync(tags, requeue).GetAwaiter().GetResult();

    /// <summary>Extends the leases of pulled deliveries to <paramref name="lease"/> from now: all or none.</summary>
    public void ExtendLeases(IReadOnlyCollection<DeliveryTag> tags, TimeSpan lease)
    {
        lock (_lock)
        {
            var entries = Resolve(tags);
            foreach (var entry in entries)
                if (entry.Owner is not null)
                    throw BrokerException.Invalid($"Delivery '{new DeliveryTag(Incarnation, entry.DeliveryId)}' belongs to a subscription, not a lease.");
            var deadline = _leases.NowTicks + lease.Ticks;
            foreach (var entry in entries)
            {
                entry.LeaseDeadline = deadline;
                _leases.Add(this, entry.DeliveryId, deadline);
            }
        }
    }

    /// <summary>Drops every ready message; unacknowledged ones stay. Returns how many were dropped, once that is durable.</summary>
    public async Task<int> PurgeAsync()
    {
        int count;
        var ticket = _journal is null ? null : new JournalTicket();
        lock (_lock)
        {
            count = ReadyTotal;
            foreach (var entry in _ready) Forget(entry, ticket);
            foreach (var (entry, _) in _returned.UnorderedItems) Forget(entry, ticket);
            _ready.Clear();
            _returned.Clear();
            _readyBytes = 0;
            UpdateCounts();
        }
        await Committed(ticket).ConfigureAwait(false);
        return count;
    }

    /// <summary>Purges and waits until that is durable; see <see cref="PurgeAsync"/>.</summary>
    public int Purge() => PurgeAsync().GetAwaiter().GetResult();

    internal bool ExpireLease(long deliveryId, long nowTicks)
    {
        lock (_lock)
        {
            if (!_unacked.TryGetValue(deliveryId, out var entry) || entry.Owner is not null || entry.LeaseDeadline > nowTicks)
                return false;
            RememberExpired(deliveryId);
            Requeue(entry);
            Dispatch();
            UpdateCounts();
            return true;
        }
    }

    /// <summary>Marks the queue deleted, ends its subscriptions and drops its messages. Returns the messages it held.</summary>
    internal int MarkDeleted()
    {
        lock (_lock)
        {
            if (_deleted) return 0;
            _deleted = true;
            var count = ReadyTotal + _unacked.Count;
            foreach (var consumer in _consumers)
            {
                consumer.EndReason = ConsumerEndReason.QueueDeleted;
                consumer.Channel.Writer.TryComplete();
            }
            _consumers.Clear();
            foreach (var entry in _ready) Forget(entry, null);
            foreach (var (entry, _) in _returned.UnorderedItems) Forget(entry, null);
            foreach (var entry in _unacked.Values) Forget(entry, null);
            _ready.Clear();
            _returned.Clear();
            _unacked.Clear();
            _readyBytes = 0;
            UpdateCounts();
            return count;
        }
    }

    /// <summary>Whether there are no ready messages (for delete ifEmpty).</summary>
    internal bool IsEmpty { get { lock (_lock) return ReadyTotal == 0; } }

    private int ReadyTotal => _ready.Count + _returned.Count;

    private QueueEntry TakeNext()
    {
        var entry = _returned.Count > 0 ? _returned.Dequeue() : _ready.Dequeue();
        _readyBytes -= entry.Message.Body.Length;
        return entry;
    }

    private Delivery Deliver(QueueEntry entry, QueueConsumer? owner, long leaseDeadline)
    {
        entry.DeliveryId = ++_nextDeliveryId;
        entry.DeliveryCount++;
        if (entry.Journaled) _journal!.Delivered(DurableId, entry.Sequence, entry.DeliveryCount);
        entry.Owner = owner;
        entry.LeaseDeadline = leaseDeadline;
        _unacked.Add(entry.DeliveryId, entry);
        if (leaseDeadline != 0) _leases.Add(this, entry.DeliveryId, leaseDeadline);
        return new Delivery(new DeliveryTag(Incarnation, entry.DeliveryId), entry.Message, entry.Redelivered, entry.DeliveryCount);
    }

    // Hands ready messages to consumers with room, round-robin. Called under the lock after anything that adds
    // ready messages or frees consumer credit.
    private void Dispatch()
    {
        while (ReadyTotal > 0 && _consumers.Count > 0)
        {
            QueueConsumer? chosen = null;
            for (var i = 0; i < _consumers.Count; i++)
            {
                var candidate = _consumers[(_nextConsumer + i) % _consumers.Count];
                if (candidate.InFlight < candidate.Prefetch)
                {
                    chosen = candidate;
                    _nextConsumer = (_nextConsumer + i + 1) % _consumers.Count;
                    break;
                }
            }
            if (chosen is null) return;
            var deadline = chosen.Lease is { } lease ? _leases.NowTicks + lease.Ticks : 0;
            var delivery = Deliver(TakeNext(), chosen, deadline);
            chosen.InFlight++;
            // Cannot fail: the buffer holds at most Prefetch and InFlight counts everything in it.
            chosen.Channel.Writer.TryWrite(delivery);
        }
    }

    private List<QueueEntry> Resolve(IReadOnlyCollection<DeliveryTag> tags)
    {
        var entries = new List<QueueEntry>(tags.Count);
        var seen = new HashSet<DeliveryTag>();
        foreach (var tag in tags)
        {
            // De-duplicate whole tags: a foreign tag may share its number with one of ours and must still be refused.
            if (!seen.Add(tag)) continue;
            if (tag.Incarnation != Incarnation || !_unacked.TryGetValue(tag.Id, out var entry))
            {
                if (tag.Incarnation == Incarnation && _expiredIds.Contains(tag.Id))
                    throw new BrokerException(BrokerError.LeaseExpired,
                        $"The lease of delivery '{tag}' expired and its message returned to queue '{Name}'; it may have gone to another consumer.");
                throw BrokerException.NotFound($"Unknown delivery tag '{tag}' for queue '{Name}': already settled, or never delivered from this queue.");
            }
            entries.Add(entry);
        }
        return entries;
    }

    private void Release(QueueEntry entry)
    {
        if (entry.Owner is { } owner) owner.InFlight--;
        entry.Owner = null;
    }

    // Removes a delivered entry for good.
    private void Settle(QueueEntry entry, JournalTicket? ticket)
    {
        Release(entry);
        _unacked.Remove(entry.DeliveryId);
        entry.DeliveryId = 0;
        Forget(entry, ticket);
    }

    // Tells the journal an entry is gone; the message's row goes with its last durable entry.
    private void Forget(QueueEntry entry, JournalTicket? ticket)
    {
        if (!entry.Journaled) return;
        entry.Journaled = false;
        var last = Interlocked.Decrement(ref entry.Message.DurableReferences) == 0;
        ticket?.Add();
        _journal!.Remove(entry.Message, DurableId, entry.Sequence, last, ticket);
    }

    // Drops the issuer's hold on the ticket: the task completes when the journal has committed what was added.
    private static Task Committed(JournalTicket? ticket)
    {
        if (ticket is null) return Task.CompletedTask;
        ticket.Release();
        return ticket.Committed;
    }

    // `seen`: whether a client may have seen the delivery. Unseen ones (still in a buffer) are not redeliveries.
    private void Requeue(QueueEntry entry, bool seen = true)
    {
        _unacked.Remove(entry.DeliveryId);
        entry.DeliveryId = 0;
        entry.Owner = null;
        if (seen) entry.Redelivered = true;
        else entry.DeliveryCount--;
        _returned.Enqueue(entry, entry.Sequence);
        _readyBytes += entry.Message.Body.Length;
    }

    private void RememberExpired(long deliveryId)
    {
        if (_expiredOrder.Count >= ExpiredTagMemory) _expiredIds.Remove(_expiredOrder.Dequeue());
        _expiredIds.Add(deliveryId);
        _expiredOrder.Enqueue(deliveryId);
    }

    private void UpdateCounts()
    {
        _readyCount = ReadyTotal;
        _unackedCount = _unacked.Count;
        var consumers = 0;
        foreach (var c in _consumers) if (!c.IsPull) consumers++;
        _consumerCount = consumers;
    }
}
