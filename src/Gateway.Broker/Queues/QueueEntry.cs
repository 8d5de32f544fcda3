using Gateway.Broker.Messages;

namespace Gateway.Broker.Queues;

/// <summary>Whether an enqueue took the message, and whether it went to the journal.</summary>
internal enum EnqueueResult { Deleted, InMemory, Journaled, Rejected }

/// <summary>Where an entry is in its queue's life cycle.</summary>
internal enum EntryState : byte
{
    /// <summary>Waiting to be delivered.</summary>
    Ready,
    /// <summary>Invisible until <see cref="QueueEntry.NotBefore"/>.</summary>
    Delayed,
    /// <summary>Delivered, awaiting ack.</summary>
    Unacked,
    /// <summary>Left the queue (expired, dropped, dead-lettered, purged). Its slots in the queue's structures are tombstones.</summary>
    Gone,
}

/// <summary>One message's place in one queue. Guarded by its queue's lock.</summary>
internal sealed class QueueEntry(Message message, long sequence)
{
    public readonly Message Message = message;
    /// <summary>The journal's key for this entry within its queue.</summary>
    public readonly long Sequence = sequence;
    /// <summary>Position in the queue's order; requeued entries go back to it. A delayed entry gets a new one when due.</summary>
    public long Position = sequence;
    public int DeliveryCount;
    public bool Redelivered;
    /// <summary>True while the journal holds this entry (a persistent message in a durable queue).</summary>
    public bool Journaled;
    public EntryState State;
    /// <summary>Priority level (0 unless the queue has x-max-priority).</summary>
    public byte Level;
    /// <summary>True while the entry sits in its queue's expiry heap.</summary>
    public bool InExpiryHeap;
    /// <summary>Non-zero while delivered and unacknowledged.</summary>
    public long DeliveryId;
    /// <summary>The subscription holding it, or null when held by a lease (pull).</summary>
    public QueueConsumer? Owner;
    /// <summary>When a leased delivery returns to the queue, in UTC ticks.</summary>
    public long LeaseDeadline;
    /// <summary>When the message expires (UTC ticks; it expires once the clock is past it); 0: never.</summary>
    public long ExpiresAt;
    /// <summary>While delayed: when it becomes ready (UTC ticks).</summary>
    public long NotBefore;
    /// <summary>When it entered the queue's ready messages (a timestamp of the broker's clock), for the age of the oldest one.</summary>
    public long EnqueuedAt;
}

/// <summary>An entry that left its queue for its dead-letter exchange, and why (x-death's reason).</summary>
internal readonly record struct DeadLetter(QueueEntry Entry, string Reason, IReadOnlyDictionary<string, string>? ExtraHeaders = null);

/// <summary>x-death reasons, as RabbitMQ names them.</summary>
internal static class DeathReason
{
    public const string Rejected = "rejected", Expired = "expired", MaxLength = "maxlen", DeliveryLimit = "delivery_limit";
}
