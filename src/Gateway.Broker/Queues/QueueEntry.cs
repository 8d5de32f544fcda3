using Gateway.Broker.Messages;

namespace Gateway.Broker.Queues;

/// <summary>Whether an enqueue took the message, and whether it went to the journal.</summary>
internal enum EnqueueResult { Deleted, InMemory, Journaled }

/// <summary>One message's place in one queue. Guarded by its queue's lock.</summary>
internal sealed class QueueEntry(Message message, long sequence)
{
    public readonly Message Message = message;
    /// <summary>Position in the queue; requeued entries go back to it.</summary>
    public readonly long Sequence = sequence;
    public int DeliveryCount;
    public bool Redelivered;
    /// <summary>True while the journal holds this entry (a persistent message in a durable queue).</summary>
    public bool Journaled;
    /// <summary>Non-zero while delivered and unacknowledged.</summary>
    public long DeliveryId;
    /// <summary>The subscription holding it, or null when held by a lease (pull).</summary>
    public QueueConsumer? Owner;
    /// <summary>When a leased delivery returns to the queue, in UTC ticks.</summary>
    public long LeaseDeadline;
}
