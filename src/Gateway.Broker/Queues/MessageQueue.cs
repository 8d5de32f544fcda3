using Gateway.Broker.Durability;
using Gateway.Broker.Messages;
using Gateway.Broker.Statistics;
using Gateway.Broker.Topology;

namespace Gateway.Broker.Queues;

/// <summary>
/// A queue of messages with competing consumers, leases and acknowledgements, and RabbitMQ's queue arguments
/// (<see cref="QueueArguments"/>): TTLs, length limits, dead-lettering, priorities, delivery limits, single active
/// consumer, delayed messages, queue expiry. All state is guarded by the queue's own lock; nothing here waits on I/O
/// while holding it (consumers read from their bounded buffers), and dead-lettering, which enqueues into other
/// queues, runs after the lock is released.
/// </summary>
/// <remarks>
/// Ready messages live per priority level in two structures: a FIFO in arrival order and a heap of requeued messages
/// ordered by their original position. Every delivered message was taken from the head, so a returned message always
/// sorts before everything in the FIFO: the next message of a level is the heap's minimum if there is one, else the
/// FIFO's head. Requeue therefore costs O(log n) and restores the original order. Messages that leave from the middle
/// (TTL expiry) are marked <see cref="EntryState.Gone"/> and skipped when they reach the head: no scan, no shifting.
/// Expiry times and delayed messages are kept in heaps, and the queue asks <see cref="QueueTimers"/> for one wake-up
/// at the earliest deadline.
/// </remarks>
public sealed partial class MessageQueue
{
    private const int ExpiredTagMemory = 65_536;

    private sealed class ReadyLevel
    {
        public readonly Queue<QueueEntry> Fifo = new();
        public readonly PriorityQueue<QueueEntry, long> Returned = new();
        public int Count;
    }

    private readonly Lock _lock = new();
    private readonly ReadyLevel[] _levels;
    private readonly Dictionary<long, QueueEntry> _unacked = new();
    private readonly List<QueueConsumer> _consumers = [];
    private readonly HashSet<long> _expiredIds = [];
    private readonly Queue<long> _expiredOrder = new();
    private readonly LeaseTable _leases;
    private readonly QueueTimers _timers;
    private readonly IMessageJournal? _journal;
    // The exclusive subscription while it is among _consumers (a stale one is ignored: no clean-up on every removal path).
    private QueueConsumer? _exclusiveConsumer;

    /// <summary>The journal of a durable queue; null for a queue kept in memory.</summary>
    internal IMessageJournal? Journal => _journal;
    private PriorityQueue<QueueEntry, long>? _expiries;
    private PriorityQueue<QueueEntry, (long NotBefore, long Position)>? _delayed;
    private List<DeadLetter>? _dead;
    private int _highest;
    private int _readyTotal;
    private int _delayedTotal;
    private int _nextConsumer;
    private long _nextSequence;
    private long _nextDeliveryId;
    private long _readyBytes;
    private long _wakeAt = long.MaxValue;
    private long _lastUsed;
    private bool _mayExpire;
    private bool _deleted;
    private bool _hadConsumer;

    private volatile int _readyCount;
    private volatile int _unackedCount;
    private volatile int _delayedCount;
    private volatile int _consumerCount;

    internal MessageQueue(VirtualHost vhost, QueueDefinition definition, QueueArguments arguments, LeaseTable leases, QueueTimers timers,
        IMessageJournal? journal, long durableId)
    {
        VirtualHost = vhost;
        Definition = definition;
        Arguments = arguments;
        _leases = leases;
        _timers = timers;
        _journal = journal;
        DurableId = journal is null ? 0 : durableId;
        Incarnation = (ulong)Random.Shared.NextInt64() | 1UL;
        Target = new RouteTarget(this);
        Statistics = new QueueStatistics { CreatedAt = leases.Time.GetTimestamp() };
        _levels = new ReadyLevel[(arguments.MaxPriority ?? 0) + 1];
        for (var i = 0; i < _levels.Length; i++) _levels[i] = new ReadyLevel();
        _mayExpire = arguments.MessageTtl is not null;
        _lastUsed = timers.NowTicks;
        if (arguments.Expires is { } expires) ScheduleWake(_lastUsed + expires.Ticks);
        // A durable queue numbers its messages from the clock's ticks at each start (recovery raises it further to the
        // highest stored position): positions given out before a restart, even to messages acknowledged since, are
        // never given again (that would need more than ten million messages a second), so a position stays a unique id.
        if (_journal is not null) _nextSequence = leases.NowTicks;
    }

    /// <summary>The queue's declaration.</summary>
    public QueueDefinition Definition { get; }
    /// <summary>The declaration's <c>x-</c> arguments, validated.</summary>
    public QueueArguments Arguments { get; }
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
    /// <summary>Messages held back until their delay ends (x-delay, or a nack with a delay).</summary>
    public int MessagesDelayed => _delayedCount;
    /// <summary>Active subscriptions (long-poll waiters are not counted).</summary>
    public int ConsumerCount => _consumerCount;
    /// <summary>Payload bytes of the ready messages.</summary>
    public long MessageBytesReady => Interlocked.Read(ref _readyBytes);
    /// <summary>True once the queue has been deleted.</summary>
    public bool IsDeleted => Volatile.Read(ref _deleted);
    /// <summary>Message counters and rates.</summary>
    public QueueStatistics Statistics { get; }

    /// <summary>
    /// How long the oldest ready message has been waiting in the queue: a requeued message counts from its first
    /// arrival, a delayed one from the end of its delay, one recovered at start from its recovery; null when no message
    /// is ready.
    /// </summary>
    public TimeSpan? OldestReadyAge
    {
        get
        {
            var oldest = long.MaxValue;
            lock (_lock)
            {
                if (_readyTotal == 0) return null;
                // Each level's oldest is the head of its returned heap or of its FIFO (positions follow arrival), once
                // the tombstones of expired entries in front are cleared (TakeNext would skip them anyway).
                foreach (var level in _levels)
                {
                    while (level.Returned.TryPeek(out var gone, out _) && gone.State != EntryState.Ready) level.Returned.Dequeue();
                    while (level.Fifo.TryPeek(out var gone) && gone.State != EntryState.Ready) level.Fifo.Dequeue();
                    if (level.Returned.TryPeek(out var returned, out _)) oldest = Math.Min(oldest, returned.EnqueuedAt);
                    if (level.Fifo.TryPeek(out var head)) oldest = Math.Min(oldest, head.EnqueuedAt);
                }
            }
            return oldest == long.MaxValue ? null : _leases.Time.GetElapsedTime(oldest);
        }
    }

    internal RouteTarget Target { get; }

    /// <summary>The connection an exclusive queue belongs to (null for other queues).</summary>
    public object? ExclusiveOwner { get; internal init; }

    /// <summary>
    /// Refuses a connection other than the owner of an exclusive queue (<see cref="BrokerError.ResourceLocked"/>):
    /// consuming, getting, purging, deleting and binding are the owner's. Plain HTTP requests pass null.
    /// </summary>
    public void RequireAccess(object? connection)
    {
        if (ExclusiveOwner is not null && !ReferenceEquals(ExclusiveOwner, connection))
            throw new BrokerException(BrokerError.ResourceLocked, $"Queue '{Name}' is exclusive to another connection.");
    }

    // ---------------------------------------------------------------- enqueue and restore

    /// <summary>
    /// Appends a message. A persistent message in a durable queue is handed to the journal here, under the lock and
    /// before any consumer can see it, so that its insert always precedes its removal in the journal. A full queue
    /// with <c>x-overflow</c> reject-publish answers <see cref="EnqueueResult.Rejected"/> and stores nothing.
    /// </summary>
    internal EnqueueResult Enqueue(Message message, JournalTicket? ticket)
    {
        EnqueueResult result;
        List<DeadLetter>? dead;
        lock (_lock)
        {
            if (_deleted) return EnqueueResult.Deleted;
            var args = Arguments;
            if (args.HasLengthLimit && args.Overflow != OverflowBehavior.DropHead && IsFull())
            {
                // Refused: nothing is stored here. With reject-publish-dlx the message is dead-lettered (it was never
                // journaled for this queue, so the dead-letter copy is all that is written).
                if (args.Overflow == OverflowBehavior.RejectPublishDeadLetter && args.DeadLetterExchange is not null)
                {
                    (_dead ??= []).Add(new DeadLetter(new QueueEntry(message, 0) { State = EntryState.Gone }, DeathReason.MaxLength));
                    Statistics.RecordDeadLettered();
                }
                result = EnqueueResult.Rejected;
            }
            else
            {
                // A monotonic timestamp (a vDSO read, no lock) for the age of the oldest ready message.
                var entry = new QueueEntry(message, ++_nextSequence) { EnqueuedAt = _leases.Time.GetTimestamp() };
                Statistics.RecordPublished();
                var timed = message.DelayMs > 0 || message.ExpirationMs >= 0 || args.MessageTtl is not null;
                var now = timed ? _timers.NowTicks : 0;
                if (message.DelayMs > 0) entry.NotBefore = now + message.DelayMs * TimeSpan.TicksPerMillisecond;
                var ttl = Ttl(message);
                if (ttl >= 0)
                {
                    entry.ExpiresAt = Math.Max(now, entry.NotBefore) + ttl * TimeSpan.TicksPerMillisecond;
                    _mayExpire = true;
                }
                if (args.MaxPriority is { } maxPriority) entry.Level = Math.Min(message.Properties.Priority ?? 0, maxPriority);
                if (_journal is not null && message.Properties.IsPersistent)
                {
                    entry.Journaled = true;
                    Interlocked.Increment(ref message.DurableReferences);
                    ticket?.Add();
                    _journal.Insert(message, DurableId, entry.Sequence, entry.ExpiresAt, entry.NotBefore, ticket);
                }
                if (entry.NotBefore != 0) AddDelayed(entry);
                else
                {
                    AddReady(entry, returned: false);
                    // Dispatched at the enqueue's own time: a later clock read would find a TTL-0 message already expired.
                    if (_consumers.Count > 0) Dispatch(timed ? now : null);
                    // TTL 0: delivered at once to a consumer with room, or expired (RabbitMQ's rule).
                    if (ttl == 0 && entry.State == EntryState.Ready) Expire(entry);
                    if (args.HasLengthLimit) TrimToLimit();
                }
                result = entry.Journaled ? EnqueueResult.Journaled : EnqueueResult.InMemory;
            }
            UpdateCounts();
            dead = TakeDeadLetters();
        }
        if (dead is not null) VirtualHost.DeadLetter(this, dead, ticket);
        return result;
    }

    /// <summary>
    /// Whether a message would be taken after <paramref name="count"/> others of <paramref name="bytes"/> bytes in
    /// all (an atomic batch's check before it publishes anything): false only for a reject-publish queue that would be full.
    /// </summary>
    internal bool WouldTake(int count, long bytes)
    {
        if (!Arguments.HasLengthLimit || Arguments.Overflow == OverflowBehavior.DropHead) return true;
        lock (_lock)
            return !((Arguments.MaxLength is { } max && _readyTotal + count >= max)
                     || (Arguments.MaxLengthBytes is { } maxBytes && _readyBytes + bytes >= maxBytes));
    }

    // The message's TTL in milliseconds, the smaller of the queue's and its own; -1 when it has none.
    private long Ttl(Message message)
    {
        var queueTtl = Arguments.MessageTtl is { } t ? (long)t.TotalMilliseconds : -1;
        var own = message.ExpirationMs;
        return own < 0 ? queueTtl : queueTtl < 0 ? own : Math.Min(own, queueTtl);
    }

    /// <summary>
    /// Puts back a message read from the journal at start, at its stored position. Recovery only: the queue is not
    /// yet visible to publishers or consumers, so no lock is taken; <see cref="CompleteRestore"/> publishes the counts.
    /// </summary>
    internal void Restore(in RecoveredEntry recovered)
    {
        var entry = new QueueEntry(recovered.Message, recovered.Sequence)
        {
            DeliveryCount = recovered.DeliveryCount,
            Redelivered = recovered.DeliveryCount > 0,
            Journaled = true,
            ExpiresAt = recovered.ExpiresAt,
            NotBefore = recovered.NotBefore,
            EnqueuedAt = _leases.Time.GetTimestamp(),
        };
        if (Arguments.MaxPriority is { } maxPriority) entry.Level = Math.Min(recovered.Message.Properties.Priority ?? 0, maxPriority);
        if (entry.ExpiresAt != 0) _mayExpire = true;
        recovered.Message.DurableReferences++;
        if (entry.NotBefore != 0) AddDelayed(entry);
        else AddReady(entry, returned: false);
        if (recovered.Sequence > _nextSequence) _nextSequence = recovered.Sequence;
    }

    /// <summary>Ends recovery of this queue: what expired while the server was down goes now (dead-lettered where configured).</summary>
    internal void CompleteRestore()
    {
        OnTimer(_timers.NowTicks);
        lock (_lock) UpdateCounts();
    }

    // ---------------------------------------------------------------- consuming

    /// <summary>Takes up to <paramref name="max"/> ready messages, each leased for <paramref name="lease"/>.</summary>
    public IReadOnlyList<Delivery> Take(int max, TimeSpan lease)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        List<Delivery> result;
        List<DeadLetter>? dead;
        lock (_lock)
        {
            if (_deleted) return [];
            _lastUsed = _timers.NowTicks;
            if (_readyTotal == 0) return [];
            var deadline = _leases.NowTicks + lease.Ticks;
            var now = Now();
            result = new List<Delivery>(Math.Min(max, _readyTotal));
            while (result.Count < max && TakeNext(now) is { } entry)
                result.Add(Deliver(entry, owner: null, deadline));
            UpdateCounts();
            dead = TakeDeadLetters();
        }
        if (dead is not null) VirtualHost.DeadLetter(this, dead, null);
        return result;
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
        if (immediate.Count > 0 || wait <= TimeSpan.Zero || IsDeleted) return await DurablyDeliveredAsync(immediate).ConfigureAwait(false);

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
            List<DeadLetter>? dead;
            lock (_lock)
            {
                foreach (var delivery in handed)
                    if (_unacked.TryGetValue(delivery.Tag.Id, out var entry)) Requeue(entry, seen: false);
                Dispatch();
                UpdateCounts();
                dead = TakeDeadLetters();
            }
            if (dead is not null) VirtualHost.DeadLetter(this, dead, null);
            throw;
        }
        return await DurablyDeliveredAsync(Detach(waiter)).ConfigureAwait(false);
    }

    // A pull answers only once the delivery marks of its persistent messages are on disk, so that a crash after the
    // answer brings them back redelivered (DESIGN.md's contract). Usually no wait of its own: the marks ride in the
    // journal's next group commit. A failed commit leaves the deliveries leased: the answer goes out all the same (the
    // marks' only use is the redelivered flag after a crash) and the failure shows in the journal's health.
    private async ValueTask<IReadOnlyList<Delivery>> DurablyDeliveredAsync(IReadOnlyList<Delivery> deliveries)
    {
        if (_journal is null || deliveries.Count == 0) return deliveries;
        var persistent = false;
        foreach (var delivery in deliveries) persistent |= delivery.Message.Properties.IsPersistent;
        if (!persistent) return deliveries;
        try
        {
            await _journal.Barrier().ConfigureAwait(false);
        }
        catch (StorageException)
        {
            // See above.
        }
        return deliveries;
    }

    /// <summary>
    /// Adds a subscription that receives up to <paramref name="prefetch"/> unacknowledged deliveries. They stay with it
    /// until acknowledged, rejected or the subscription is cancelled (no lease: the connection is the lease). With
    /// <c>x-single-active-consumer</c>, only the earliest subscription still active receives.
    /// </summary>
    public QueueConsumer Subscribe(int prefetch) => Subscribe(prefetch, null, isPull: false);

    /// <summary>
    /// Adds a subscription as the queue's only one (AMQP's exclusive consume), whatever protocol the others use:
    /// refused while the queue has another subscription, and while it lasts every other subscription is refused
    /// (<see cref="BrokerError.AccessRefused"/>, RabbitMQ's 403). Gets and long-polls are not subscriptions and go on.
    /// </summary>
    /// <exception cref="BrokerException">The queue has a subscription already.</exception>
    public QueueConsumer SubscribeExclusive(int prefetch) => Subscribe(prefetch, null, isPull: false, exclusive: true);

    private QueueConsumer Subscribe(int prefetch, TimeSpan? lease, bool isPull, bool exclusive = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(prefetch, 1);
        var consumer = new QueueConsumer(this, prefetch, lease, isPull);
        List<DeadLetter>? dead;
        lock (_lock)
        {
            if (_deleted)
            {
                consumer.EndReason = ConsumerEndReason.QueueDeleted;
                consumer.Channel.Writer.TryComplete();
                return consumer;
            }
            if (!isPull)
            {
                if (_exclusiveConsumer is { } owner && _consumers.Contains(owner))
                    throw BrokerException.AccessRefused($"Queue '{Name}' in vhost '{VirtualHost.Name}' is in exclusive use by another consumer.");
                if (exclusive && _consumers.Exists(c => !c.IsPull))
                    throw BrokerException.AccessRefused($"Queue '{Name}' in vhost '{VirtualHost.Name}' has consumers: an exclusive subscription is refused.");
                if (exclusive) _exclusiveConsumer = consumer;
            }
            _consumers.Add(consumer);
            if (!isPull) _hadConsumer = true;
            _lastUsed = _timers.NowTicks;
            Dispatch();
            UpdateCounts();
            dead = TakeDeadLetters();
        }
        if (dead is not null) VirtualHost.DeadLetter(this, dead, null);
        return consumer;
    }

    /// <summary>
    /// Ends a subscription. Its unacknowledged deliveries return to their original positions, marked redelivered;
    /// those still in its buffer, which its reader never saw, return unmarked and not counted as delivered.
    /// </summary>
    /// <returns>True when the queue is auto-delete and this was its last consumer: the caller deletes the queue.</returns>
    public bool Cancel(QueueConsumer consumer)
    {
        bool lastGone;
        List<DeadLetter>? dead;
        lock (_lock)
        {
            if (!_consumers.Remove(consumer)) return false;
            consumer.EndReason = ConsumerEndReason.Cancelled;
            consumer.Channel.Writer.TryComplete();
            HashSet<long>? unseen = null;
            while (consumer.Channel.Reader.TryRead(out var buffered)) (unseen ??= []).Add(buffered.Tag.Id);
            if (consumer.InFlight > 0)
            {
                var owned = _unacked.Values.Where(e => e.Owner == consumer).OrderBy(e => e.Position).ToList();
                foreach (var entry in owned) Requeue(entry, seen: unseen?.Contains(entry.DeliveryId) != true);
                consumer.InFlight = 0;
            }
            _lastUsed = _timers.NowTicks;
            if (Arguments.Expires is { } expires && _consumers.Count == 0) ScheduleWake(_lastUsed + expires.Ticks);
            Dispatch();
            UpdateCounts();
            lastGone = Definition.AutoDelete && _hadConsumer && _consumerCount == 0 && !_deleted;
            dead = TakeDeadLetters();
        }
        if (dead is not null) VirtualHost.DeadLetter(this, dead, null);
        return lastGone;
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
            // The get was a use (x-expires): the interval starts again now, and a wake-up that came while it waited
            // found the queue in use and asked for no other.
            _lastUsed = _timers.NowTicks;
            if (Arguments.Expires is { } expires && _consumers.Count == 0) ScheduleWake(_lastUsed + expires.Ticks);
            UpdateCounts();
        }
        return handed;
    }

    // ---------------------------------------------------------------- settling

    /// <summary>
    /// Acknowledges deliveries: all or none. Throws <see cref="BrokerException"/> naming the first bad tag. Completes
    /// when the acknowledgement is durable (at once unless a persistent message left a durable queue).
    /// </summary>
    public Task AckAsync(IReadOnlyCollection<DeliveryTag> tags)
    {
        var ticket = _journal is null ? null : new JournalTicket();
        lock (_lock)
        {
            var entries = Resolve(tags);
            foreach (var entry in entries) Settle(entry, ticket);
            Statistics.RecordAcknowledged(entries.Count);
            Dispatch();
            UpdateCounts();
        }
        return Committed(ticket);
    }

    /// <summary>Acknowledges and waits until that is durable; see <see cref="AckAsync"/>.</summary>
    public void Ack(IReadOnlyCollection<DeliveryTag> tags) => AckAsync(tags).GetAwaiter().GetResult();

    /// <summary>
    /// Rejects deliveries: all or none. With <paramref name="requeue"/> they return to their original positions,
    /// marked redelivered (or, past <c>x-delivery-limit</c>, are dead-lettered with reason <c>delivery_limit</c>);
    /// with a <paramref name="delay"/> as well they stay invisible that long first. Without requeue they are
    /// dead-lettered with reason <c>rejected</c> when the queue has a dead-letter exchange, else dropped.
    /// </summary>
    public Task NackAsync(IReadOnlyCollection<DeliveryTag> tags, bool requeue, TimeSpan? delay = null) =>
        NackAsync(tags, requeue, delay, deadLetterHeaders: null);

    /// <summary>
    /// Rejects one delivery without requeue, adding <paramref name="deadLetterHeaders"/> to the dead-lettered copy
    /// (say why, e.g. a webhook's last error). Dropped like any rejection when the queue has no dead-letter exchange.
    /// </summary>
    public Task RejectAsync(DeliveryTag tag, IReadOnlyDictionary<string, string> deadLetterHeaders) =>
        NackAsync([tag], requeue: false, delay: null, deadLetterHeaders);

    private Task NackAsync(IReadOnlyCollection<DeliveryTag> tags, bool requeue, TimeSpan? delay, IReadOnlyDictionary<string, string>? deadLetterHeaders)
    {
        var ticket = _journal is null && Arguments.DeadLetterExchange is null ? null : new JournalTicket();
        List<DeadLetter>? dead;
        lock (_lock)
        {
            var entries = Resolve(tags);
            foreach (var entry in entries)
            {
                if (requeue && delay is { } wait && wait > TimeSpan.Zero) RequeueDelayed(entry, wait);
                else if (requeue) Requeue(entry);
                else
                {
                    Undeliver(entry);
                    entry.State = EntryState.Gone;
                    Discard(entry, DeathReason.Rejected, ticket, deadLetterHeaders);
                }
            }
            Dispatch();
            UpdateCounts();
            dead = TakeDeadLetters();
        }
        if (dead is not null) VirtualHost.DeadLetter(this, dead, ticket);
        return Committed(ticket);
    }

    /// <summary>Rejects and waits until that is durable; see <see cref="NackAsync(IReadOnlyCollection{DeliveryTag}, bool, TimeSpan?)"/>.</summary>
    public void Nack(IReadOnlyCollection<DeliveryTag> tags, bool requeue, TimeSpan? delay = null) =>
        NackAsync(tags, requeue, delay).GetAwaiter().GetResult();

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

    /// <summary>
    /// Drops every ready and delayed message; unacknowledged ones stay. Returns how many were dropped, once that is
    /// durable. Purged messages are not dead-lettered (as in RabbitMQ).
    /// </summary>
    public async Task<int> PurgeAsync()
    {
        int count;
        var ticket = _journal is null ? null : new JournalTicket();
        lock (_lock)
        {
            count = _readyTotal + _delayedTotal;
            foreach (var entry in ReadyAndDelayedEntries()) { entry.State = EntryState.Gone; Forget(entry, ticket); }
            ClearReadyAndDelayed();
            UpdateCounts();
        }
        await Committed(ticket).ConfigureAwait(false);
        return count;
    }

    /// <summary>Purges and waits until that is durable; see <see cref="PurgeAsync"/>.</summary>
    public int Purge() => PurgeAsync().GetAwaiter().GetResult();

    internal bool ExpireLease(long deliveryId, long nowTicks)
    {
        List<DeadLetter>? dead;
        lock (_lock)
        {
            if (!_unacked.TryGetValue(deliveryId, out var entry) || entry.Owner is not null || entry.LeaseDeadline > nowTicks)
                return false;
            RememberExpired(deliveryId);
            Requeue(entry);
            Dispatch();
            UpdateCounts();
            dead = TakeDeadLetters();
        }
        if (dead is not null) VirtualHost.DeadLetter(this, dead, null);
        return true;
    }

    /// <summary>A redeclaration counts as use (x-expires).</summary>
    internal void Touch()
    {
        lock (_lock) _lastUsed = _timers.NowTicks;
    }

    /// <summary>
    /// Runs what has come due: delayed messages become ready (in order of their due time), expired ready messages
    /// leave (dead-lettered where configured), an unused queue past its x-expires is deleted. Then asks for the next
    /// wake-up.
    /// </summary>
    internal void OnTimer(long now)
    {
        List<DeadLetter>? dead;
        var expired = false;
        lock (_lock)
        {
            if (_deleted) return;
            _wakeAt = long.MaxValue;
            var becameReady = false;
            while (_delayed is not null && _delayed.TryPeek(out var entry, out var due) && due.NotBefore <= now)
            {
                _delayed.Dequeue();
                if (entry.State != EntryState.Delayed || entry.NotBefore != due.NotBefore) continue;
                _delayedTotal--;
                entry.NotBefore = 0;
                entry.Position = ++_nextSequence;
                entry.EnqueuedAt = _leases.Time.GetTimestamp();
                AddReady(entry, returned: false);
                becameReady = true;
            }
            while (_expiries is not null && _expiries.TryPeek(out var entry, out var at) && at < now)
            {
                _expiries.Dequeue();
                entry.InExpiryHeap = false;
                if (entry.State == EntryState.Ready && entry.ExpiresAt < now) Expire(entry);
            }
            if (becameReady)
            {
                Dispatch();
                if (Arguments.HasLengthLimit) TrimToLimit();
            }
            if (Arguments.Expires is { } expires && _consumers.Count == 0)
            {
                if (now >= _lastUsed + expires.Ticks) expired = true;
                else ScheduleWake(_lastUsed + expires.Ticks);
            }
            if (_delayed is not null && _delayed.TryPeek(out _, out var nextDue)) ScheduleWake(nextDue.NotBefore);
            if (_expiries is not null && _expiries.TryPeek(out _, out var nextExpiry)) ScheduleWake(nextExpiry + 1);
            UpdateCounts();
            dead = TakeDeadLetters();
        }
        if (dead is not null) VirtualHost.DeadLetter(this, dead, null);
        // A deletion that could not be stored (disk full, database locked) is tried again after a second.
        if (expired && !VirtualHost.DeleteExpired(this))
            lock (_lock) ScheduleWake(now + TimeSpan.TicksPerSecond);
    }

    /// <summary>Marks the queue deleted, ends its subscriptions and drops its messages. Returns the messages it held.</summary>
    internal int MarkDeleted()
    {
        lock (_lock)
        {
            if (_deleted) return 0;
            _deleted = true;
            var count = _readyTotal + _delayedTotal + _unacked.Count;
            foreach (var consumer in _consumers)
            {
                consumer.EndReason = ConsumerEndReason.QueueDeleted;
                consumer.Channel.Writer.TryComplete();
            }
            _consumers.Clear();
            foreach (var entry in ReadyAndDelayedEntries()) Forget(entry, null);
            foreach (var entry in _unacked.Values) Forget(entry, null);
            ClearReadyAndDelayed();
            _unacked.Clear();
            UpdateCounts();
            return count;
        }
    }

    /// <summary>Whether there are no ready messages (for delete ifEmpty).</summary>
    internal bool IsEmpty { get { lock (_lock) return _readyTotal == 0 && _delayedTotal == 0; } }

    // ---------------------------------------------------------------- internals (all under the lock)

    // The clock, read only when some message may expire (plain queues never read it on the hot path).
    private long Now() => _mayExpire ? _timers.NowTicks : 0;

    private void AddReady(QueueEntry entry, bool returned)
    {
        entry.State = EntryState.Ready;
        var level = _levels[entry.Level];
        if (returned) level.Returned.Enqueue(entry, entry.Position);
        else level.Fifo.Enqueue(entry);
        level.Count++;
        _readyTotal++;
        _readyBytes += entry.Message.Body.Length;
        if (entry.Level > _highest) _highest = entry.Level;
        if (entry.ExpiresAt != 0 && !entry.InExpiryHeap)
        {
            (_expiries ??= new()).Enqueue(entry, entry.ExpiresAt);
            entry.InExpiryHeap = true;
            ScheduleWake(entry.ExpiresAt + 1);
        }
    }

    private void AddDelayed(QueueEntry entry)
    {
        entry.State = EntryState.Delayed;
        (_delayed ??= new()).Enqueue(entry, (entry.NotBefore, entry.Position));
        _delayedTotal++;
        ScheduleWake(entry.NotBefore);
    }

    // Takes a ready entry out of the accounting; its slot stays behind as a tombstone (or was just dequeued).
    private void RemoveReady(QueueEntry entry)
    {
        _levels[entry.Level].Count--;
        _readyTotal--;
        _readyBytes -= entry.Message.Body.Length;
        entry.State = EntryState.Gone;
    }

    // The next ready entry by priority, then position; expired ones met on the way leave. Null when none is left.
    private QueueEntry? TakeNext(long now)
    {
        while (_readyTotal > 0)
        {
            var level = _levels[_highest];
            if (level.Count == 0)
            {
                _highest--;
                continue;
            }
            var entry = level.Returned.Count > 0 ? level.Returned.Dequeue() : level.Fifo.Dequeue();
            if (entry.State != EntryState.Ready) continue; // a tombstone
            RemoveReady(entry);
            if (entry.ExpiresAt != 0 && entry.ExpiresAt < now)
            {
                Discard(entry, DeathReason.Expired, null);
                continue;
            }
            return entry;
        }
        return null;
    }

    private void Expire(QueueEntry entry)
    {
        RemoveReady(entry);
        Discard(entry, DeathReason.Expired, null);
    }

    // x-overflow drop-head: the oldest ready messages leave until the queue is within its limits.
    private void TrimToLimit()
    {
        var now = Now();
        while ((Arguments.MaxLength is { } max && _readyTotal > max) || (Arguments.MaxLengthBytes is { } maxBytes && _readyBytes > maxBytes))
        {
            if (TakeNext(now) is not { } head) return;
            Discard(head, DeathReason.MaxLength, null);
        }
    }

    // As RabbitMQ decides reject-publish: the queue is full when it is at (not only over) a limit.
    private bool IsFull() =>
        (Arguments.MaxLength is { } max && _readyTotal >= max) || (Arguments.MaxLengthBytes is { } maxBytes && _readyBytes >= maxBytes);

    private Delivery Deliver(QueueEntry entry, QueueConsumer? owner, long leaseDeadline)
    {
        entry.State = EntryState.Unacked;
        entry.DeliveryId = ++_nextDeliveryId;
        entry.DeliveryCount++;
        if (entry.Journaled) _journal!.Delivered(DurableId, entry.Sequence, entry.DeliveryCount);
        entry.Owner = owner;
        entry.LeaseDeadline = leaseDeadline;
        _unacked.Add(entry.DeliveryId, entry);
        Statistics.RecordDelivered(entry.Redelivered);
        if (leaseDeadline != 0) _leases.Add(this, entry.DeliveryId, leaseDeadline);
        return new Delivery(new DeliveryTag(Incarnation, entry.DeliveryId), entry.Message, entry.Redelivered, entry.DeliveryCount)
        {
            Sequence = entry.Sequence,
            MarkPending = entry.Journaled,
        };
    }

    // Hands ready messages to consumers with room, round-robin. Called under the lock after anything that adds
    // ready messages or frees consumer credit. With a single active consumer, only the earliest subscription (and
    // long-poll waiters, which are gets, not subscriptions) receive.
    private void Dispatch(long? at = null)
    {
        if (_readyTotal == 0 || _consumers.Count == 0) return;
        var active = Arguments.SingleActiveConsumer ? _consumers.Find(c => !c.IsPull) : null;
        var now = at ?? Now();
        while (_readyTotal > 0)
        {
            QueueConsumer? chosen = null;
            for (var i = 0; i < _consumers.Count; i++)
            {
                var candidate = _consumers[(_nextConsumer + i) % _consumers.Count];
                if (candidate.InFlight >= candidate.Prefetch || (active is not null && !candidate.IsPull && candidate != active)) continue;
                chosen = candidate;
                _nextConsumer = (_nextConsumer + i + 1) % _consumers.Count;
                break;
            }
            if (chosen is null) return;
            if (TakeNext(now) is not { } entry) return;
            var deadline = chosen.Lease is { } lease ? _leases.NowTicks + lease.Ticks : 0;
            var delivery = Deliver(entry, chosen, deadline);
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

    private static void Release(QueueEntry entry)
    {
        if (entry.Owner is { } owner) owner.InFlight--;
        entry.Owner = null;
    }

    // Takes a delivered entry out of the unacknowledged ones (and its holder's credit); the caller says where it goes.
    private void Undeliver(QueueEntry entry)
    {
        Release(entry);
        _unacked.Remove(entry.DeliveryId);
        entry.DeliveryId = 0;
    }

    // Removes a delivered entry for good.
    private void Settle(QueueEntry entry, JournalTicket? ticket)
    {
        Undeliver(entry);
        entry.State = EntryState.Gone;
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

    /// <summary>
    /// The journal removal of a dead-lettered entry, written by <see cref="VirtualHost.DeadLetter"/> in the same
    /// atomic journal group as the copies it made. The entry has already left every structure of the queue.
    /// </summary>
    internal void ForgetDeadLettered(QueueEntry entry, JournalTicket? ticket) => Forget(entry, ticket);

    // An entry that left the queue (state Gone, out of the accounting) for a reason: dead-lettered when the queue has
    // a dead-letter exchange (after the lock is released: see TakeDeadLetters), else dropped now.
    private void Discard(QueueEntry entry, string reason, JournalTicket? ticket, IReadOnlyDictionary<string, string>? extraHeaders = null)
    {
        if (Arguments.DeadLetterExchange is not null)
        {
            (_dead ??= []).Add(new DeadLetter(entry, reason, extraHeaders));
            Statistics.RecordDeadLettered();
        }
        else Forget(entry, ticket);
    }

    private List<DeadLetter>? TakeDeadLetters()
    {
        var dead = _dead;
        _dead = null;
        return dead;
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
        Undeliver(entry);
        if (seen)
        {
            entry.Redelivered = true;
            if (PastDeliveryLimit(entry)) return;
        }
        else entry.DeliveryCount--;
        AddReady(entry, returned: true);
        if (entry.ExpiresAt != 0 && entry.ExpiresAt < Now()) Expire(entry);
    }

    private void RequeueDelayed(QueueEntry entry, TimeSpan delay)
    {
        Undeliver(entry);
        entry.Redelivered = true;
        if (PastDeliveryLimit(entry)) return;
        entry.NotBefore = _timers.NowTicks + delay.Ticks;
        if (entry.Journaled) _journal!.Delay(DurableId, entry.Sequence, entry.NotBefore);
        AddDelayed(entry);
    }

    // x-delivery-limit, as quorum queues count: a message returned more times than the limit is dead-lettered.
    private bool PastDeliveryLimit(QueueEntry entry)
    {
        if (Arguments.DeliveryLimit is not { } limit || entry.DeliveryCount <= limit) return false;
        entry.State = EntryState.Gone;
        Discard(entry, DeathReason.DeliveryLimit, null);
        return true;
    }

    private void ScheduleWake(long at)
    {
        if (at >= _wakeAt) return;
        _wakeAt = at;
        _timers.Schedule(this, at);
    }

    private IEnumerable<QueueEntry> ReadyAndDelayedEntries()
    {
        foreach (var level in _levels)
        {
            foreach (var entry in level.Fifo) if (entry.State == EntryState.Ready) yield return entry;
            foreach (var (entry, _) in level.Returned.UnorderedItems) if (entry.State == EntryState.Ready) yield return entry;
        }
        if (_delayed is null) yield break;
        foreach (var (entry, due) in _delayed.UnorderedItems)
            if (entry.State == EntryState.Delayed && entry.NotBefore == due.NotBefore) yield return entry;
    }

    private void ClearReadyAndDelayed()
    {
        foreach (var entry in ReadyAndDelayedEntries().ToList()) entry.State = EntryState.Gone;
        foreach (var level in _levels)
        {
            level.Fifo.Clear();
            level.Returned.Clear();
            level.Count = 0;
        }
        _delayed?.Clear();
        _expiries?.Clear();
        _readyTotal = 0;
        _delayedTotal = 0;
        _readyBytes = 0;
        _highest = 0;
    }

    private void RememberExpired(long deliveryId)
    {
        if (_expiredOrder.Count >= ExpiredTagMemory) _expiredIds.Remove(_expiredOrder.Dequeue());
        _expiredIds.Add(deliveryId);
        _expiredOrder.Enqueue(deliveryId);
    }

    private void UpdateCounts()
    {
        _readyCount = _readyTotal;
        _unackedCount = _unacked.Count;
        _delayedCount = _delayedTotal;
        var consumers = 0;
        foreach (var c in _consumers) if (!c.IsPull) consumers++;
        _consumerCount = consumers;
    }
}
