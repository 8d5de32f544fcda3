using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;

namespace Gateway.Broker.Durability;

/// <summary>
/// The storage port: where the engine keeps durable topology and persistent messages. The embedded default is SQLite
/// (Gateway.Storage); without a store the broker is memory-only.
/// </summary>
public interface IBrokerStore
{
    /// <summary>
    /// Makes a set of topology changes durable, atomically, before the engine applies them in memory. Called under the
    /// vhost's topology lock with only durable resources in the list. Throws <see cref="StorageException"/> when the
    /// changes could not be stored; the engine then refuses the operation and changes nothing.
    /// </summary>
    void Apply(IReadOnlyList<TopologyChange> changes);

    /// <summary>The message journal.</summary>
    IMessageJournal Journal { get; }

    /// <summary>The durable topology, for recovery at start.</summary>
    DurableTopology LoadTopology();

    /// <summary>
    /// Every persistent message of every durable queue, ordered by queue and then by position. A message stored for
    /// several queues is one <see cref="Message"/> instance in all its entries.
    /// </summary>
    IEnumerable<RecoveredEntry> ReadMessages();

    /// <summary>
    /// Drops the journal entries of queues that no longer exist (a crash cut a queue deletion short), and the
    /// messages only they held. Recovery calls it only when it met such entries.
    /// </summary>
    int RemoveOrphans(IReadOnlyCollection<long> orphanQueueIds);

    /// <summary>
    /// Stores a webhook subscription of a durable queue, replacing the one of the same vhost, queue and name. The
    /// engine does not deliver webhooks (the host does); the store keeps them with the topology so that deleting the
    /// queue or its vhost deletes them in the same transaction. Throws <see cref="StorageException"/> on failure.
    /// </summary>
    void SaveWebhook(StoredWebhook webhook);

    /// <summary>Deletes a webhook subscription; nothing happens when it is not stored. Throws <see cref="StorageException"/> on failure.</summary>
    void DeleteWebhook(string vhost, string queue, string name);

    /// <summary>Every stored webhook subscription, for the host to start at start-up.</summary>
    IReadOnlyList<StoredWebhook> LoadWebhooks();
}

/// <summary>
/// A webhook subscription as stored. <paramref name="Definition"/> is the host's own serialized form (target, secret,
/// retry policy…), kept as it is, so that the host can add settings without a storage change.
/// </summary>
/// <param name="Vhost">The queue's vhost.</param>
/// <param name="Queue">The queue it consumes from.</param>
/// <param name="Name">Its name, unique per queue.</param>
/// <param name="Definition">The host's serialized definition.</param>
/// <param name="DisabledReason">Why the host disabled it (e.g. the endpoint answered 410 Gone); null while it is not disabled.</param>
/// <param name="DisabledAt">When it was disabled.</param>
public sealed record StoredWebhook(string Vhost, string Queue, string Name, string Definition, string? DisabledReason = null,
    DateTimeOffset? DisabledAt = null);

/// <summary>
/// Where persistent messages on durable queues are recorded. Queues call it under their own lock, so the journal
/// sees each queue's operations in the order they happened (an entry's insert always before its removal). Calls
/// only enqueue work: a single writer commits it in batches. An operation passed with a <see cref="JournalTicket"/>
/// releases it once the batch holding it has committed, or fails it when that batch could not commit.
/// </summary>
public interface IMessageJournal
{
    /// <summary>
    /// A persistent message entered durable queue <paramref name="queueId"/> at <paramref name="sequence"/>; it expires
    /// at <paramref name="expiresAt"/> and is invisible until <paramref name="notBefore"/> (UTC ticks; 0: never / not delayed).
    /// </summary>
    void Insert(Message message, long queueId, long sequence, long expiresAt, long notBefore, JournalTicket? ticket);

    /// <summary>The entry was returned with a delay: invisible until <paramref name="notBefore"/> (UTC ticks).</summary>
    void Delay(long queueId, long sequence, long notBefore);

    /// <summary>
    /// Opens an atomic group: every operation enqueued until the matching <see cref="EndAtomic"/> commits in the same
    /// transaction (dead-lettering moves a message from one queue to others). Groups may nest; always close them.
    /// </summary>
    void BeginAtomic();

    /// <summary>Closes the group opened by <see cref="BeginAtomic"/>.</summary>
    void EndAtomic();

    /// <summary>The entry was delivered; <paramref name="deliveryCount"/> deliveries so far (for redelivery after a crash).</summary>
    void Delivered(long queueId, long sequence, int deliveryCount);

    /// <summary>The entry left the queue (ack, reject, purge, queue deletion). <paramref name="lastReference"/>: no durable queue holds the message any more.</summary>
    void Remove(Message message, long queueId, long sequence, bool lastReference, JournalTicket? ticket);

    /// <summary>
    /// Completes once every operation enqueued before it has committed (one writer commits them in order), and faults
    /// with <see cref="StorageException"/> when they could not be: for what a caller must know is on disk before it
    /// answers, such as the delivery marks of a pull (a message handed to a client must come back redelivered after a crash).
    /// </summary>
    Task Barrier();
}

/// <summary>
/// Waits for a group of journal operations (one publish, a batch, an ack of several tags): <see cref="Committed"/>
/// completes when every operation added to it has committed and its issuer has released its own hold, and fails as
/// soon as any of them could not be stored. A ticket to which nothing was added completes on the issuer's release.
/// </summary>
public sealed class JournalTicket
{
    private readonly TaskCompletionSource _committed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _pending = 1;

    /// <summary>Completes when all operations have committed; faults with <see cref="StorageException"/> otherwise.</summary>
    public Task Committed => _committed.Task;

    /// <summary>Counts one more operation to wait for (called when the operation is handed to the journal).</summary>
    public void Add() => Interlocked.Increment(ref _pending);

    /// <summary>One operation committed, or the issuer is done adding: completes the ticket with the last one.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _pending) == 0) _committed.TrySetResult();
    }

    /// <summary>An operation could not be stored: the whole group fails.</summary>
    public void Fail(Exception exception) => _committed.TrySetException(exception);
}

/// <summary>A storage failure (disk full, file gone, database locked): the operation was not made durable.</summary>
public sealed class StorageException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>One durable topology change.</summary>
public abstract record TopologyChange
{
    /// <summary>A vhost was created.</summary>
    public sealed record VhostCreated(string Vhost) : TopologyChange;
    /// <summary>A vhost was deleted with everything in it.</summary>
    public sealed record VhostDeleted(string Vhost) : TopologyChange;
    /// <summary>A durable exchange was declared.</summary>
    public sealed record ExchangeDeclared(string Vhost, ExchangeDefinition Definition) : TopologyChange;
    /// <summary>A durable exchange was deleted.</summary>
    public sealed record ExchangeDeleted(string Vhost, string Name) : TopologyChange;
    /// <summary>A durable queue was declared with its durable id (the journal's key for it).</summary>
    public sealed record QueueDeclared(string Vhost, QueueDefinition Definition, long QueueId) : TopologyChange;
    /// <summary>A durable queue was deleted. Its journal entries go through the journal (one removal each), and any left by a crash are dropped as orphans at the next recovery.</summary>
    public sealed record QueueDeleted(string Vhost, string Name, long QueueId) : TopologyChange;
    /// <summary>A binding between durable resources was added.</summary>
    public sealed record BindingAdded(string Vhost, Binding Binding) : TopologyChange;
    /// <summary>A binding between durable resources was removed.</summary>
    public sealed record BindingRemoved(string Vhost, Binding Binding) : TopologyChange;
}

/// <summary>The durable topology read at start.</summary>
public sealed record DurableTopology(
    IReadOnlyList<string> Vhosts,
    IReadOnlyList<(string Vhost, ExchangeDefinition Definition)> Exchanges,
    IReadOnlyList<(string Vhost, QueueDefinition Definition, long QueueId)> Queues,
    IReadOnlyList<(string Vhost, Binding Binding)> Bindings);

/// <summary>A persistent message in a durable queue, read at start.</summary>
public readonly record struct RecoveredEntry(long QueueId, long Sequence, int DeliveryCount, Message Message, long ExpiresAt = 0, long NotBefore = 0);

/// <summary>Progress of recovery, reported while messages are loaded.</summary>
public readonly record struct RecoveryProgress(long Messages, int QueuesDone, int Queues, TimeSpan Elapsed);
