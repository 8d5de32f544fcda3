using System.Threading.Channels;

namespace Gateway.Broker.Queues;

/// <summary>Why a subscription ended.</summary>
public enum ConsumerEndReason
{
    /// <summary>Still active.</summary>
    None,
    /// <summary>The client cancelled it (or its connection closed).</summary>
    Cancelled,
    /// <summary>The queue was deleted.</summary>
    QueueDeleted,
    /// <summary>The backend went away (e.g. the RabbitMQ node holding it); the client may subscribe again once it is back.</summary>
    BackendUnavailable,
}

/// <summary>
/// A subscription on a queue: it receives deliveries round-robin with the queue's other consumers while it has
/// fewer than <see cref="Prefetch"/> unacknowledged. Its outbound buffer is bounded by the prefetch: the queue never
/// hands it more than it may hold, so a slow reader makes the queue keep messages, not the consumer.
/// </summary>
public sealed partial class QueueConsumer
{
    internal readonly Channel<Delivery> Channel;
    internal int InFlight;

    internal QueueConsumer(MessageQueue queue, int prefetch, TimeSpan? lease, bool isPull)
    {
        Queue = queue;
        Prefetch = prefetch;
        Lease = lease;
        IsPull = isPull;
        Channel = System.Threading.Channels.Channel.CreateBounded<Delivery>(
            new BoundedChannelOptions(prefetch) { SingleReader = true, SingleWriter = false, FullMode = BoundedChannelFullMode.Wait });
    }

    /// <summary>The queue subscribed to.</summary>
    public MessageQueue Queue { get; }
    /// <summary>The most unacknowledged deliveries it may hold.</summary>
    public int Prefetch { get; }
    /// <summary>When set, its deliveries return to the queue if not acknowledged within this time.</summary>
    public TimeSpan? Lease { get; }
    /// <summary>True for the short-lived consumer behind a long-poll; not counted as a consumer of the queue.</summary>
    public bool IsPull { get; }
    /// <summary>Why it ended, once it has.</summary>
    public ConsumerEndReason EndReason { get; internal set; }
    /// <summary>Its deliveries, in order. Completes when the subscription ends.</summary>
    public ChannelReader<Delivery> Deliveries => Channel.Reader;
}
