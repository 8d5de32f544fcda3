using Gateway.Broker.Messages;

namespace Gateway.Broker.Queues;

/// <summary>A message handed to a consumer, awaiting acknowledgement (unless it was taken with auto-ack).</summary>
/// <param name="Tag">Identifies the delivery for ack, nack and lease extension.</param>
/// <param name="Message">The message; shared, immutable.</param>
/// <param name="Redelivered">True when the message was delivered before and came back (AMQP's redelivered flag).</param>
/// <param name="DeliveryCount">How many times the message has been delivered, this time included.</param>
public readonly record struct Delivery(DeliveryTag Tag, Message Message, bool Redelivered, int DeliveryCount)
{
    /// <summary>
    /// The message's position in its queue: the same on every redelivery, after a restart too (durable queues keep it
    /// in the journal), and never given to another message of the same queue. With the queue's
    /// <see cref="MessageQueue.DurableId"/> (or <see cref="MessageQueue.Incarnation"/> for a queue kept in memory) it
    /// identifies the message for consumers that deduplicate, such as webhook receivers.
    /// </summary>
    public long Sequence { get; init; }

    /// <summary>Its delivery mark was handed to the journal and may not be on disk yet (a persistent message of a durable queue).</summary>
    internal bool MarkPending { get; init; }
}
