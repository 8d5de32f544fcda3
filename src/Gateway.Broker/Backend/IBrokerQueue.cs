using System.Threading.Channels;
using Gateway.Broker.Queues;

namespace Gateway.Broker;

/// <summary>
/// One queue of an <see cref="IBrokerVhost"/>: consuming from it and settling its deliveries. See
/// <see cref="IBroker"/> for the conventions.
/// </summary>
public interface IBrokerQueue
{
    /// <summary>How it was declared.</summary>
    QueueDefinition Definition { get; }

    /// <summary>Its name.</summary>
    string Name { get; }

    /// <summary>Its vhost's name.</summary>
    string Vhost { get; }

    /// <summary>
    /// A number that tells this queue apart from an earlier or later queue of the same name where the backend can
    /// (the embedded engine draws one each time a queue is created or recovered at start). Delivery tags carry it.
    /// </summary>
    ulong Incarnation { get; }

    /// <summary>
    /// A number that stays the same for this queue across restarts where the backend can (the embedded engine's
    /// durable id), for ids that receivers deduplicate by (webhook-id). Defaults to <see cref="Incarnation"/>.
    /// </summary>
    ulong StableId => Incarnation;

    /// <summary>Its counts now.</summary>
    ValueTask<QueueStatus> GetStatusAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Throws <see cref="BrokerException"/> (resource locked) when the queue is exclusive to another connection than
    /// <paramref name="connection"/> (null: a plain HTTP request, which never owns one).
    /// </summary>
    void RequireAccess(object? connection);

    /// <summary>
    /// Long-poll: takes up to <paramref name="max"/> messages, waiting up to <paramref name="wait"/> for the first,
    /// each leased for <paramref name="lease"/> (it returns to the queue unless settled or extended by then). A caller
    /// that goes away cancels, and whatever was taken for it goes back.
    /// </summary>
    ValueTask<IReadOnlyList<Delivery>> GetAsync(int max, TimeSpan wait, TimeSpan lease, CancellationToken cancellationToken = default);

    /// <summary>
    /// Adds a subscription that receives up to <paramref name="prefetch"/> unacknowledged deliveries, round-robin with
    /// the queue's other consumers (only the earliest with <c>x-single-active-consumer</c>).
    /// </summary>
    ValueTask<IBrokerSubscription> SubscribeAsync(int prefetch, CancellationToken cancellationToken = default);

    /// <summary>
    /// Adds a subscription as the queue's only one (AMQP's exclusive consume): refused with
    /// <see cref="BrokerError.AccessRefused"/> while the queue has another subscription, and while it lasts every other
    /// subscription, over any protocol, is refused the same way.
    /// </summary>
    ValueTask<IBrokerSubscription> SubscribeExclusiveAsync(int prefetch, CancellationToken cancellationToken = default);

    /// <summary>Acknowledges deliveries, all or none; completes when that is durable. Unknown tags are refused (not found), expired leases too (lease expired).</summary>
    Task AckAsync(IReadOnlyCollection<DeliveryTag> tags);

    /// <summary>
    /// Rejects deliveries, all or none: with <paramref name="requeue"/> back to the queue (after <paramref name="delay"/>
    /// where the backend has <see cref="BrokerFeature.NackWithDelay"/>), else dead-lettered or dropped.
    /// </summary>
    Task NackAsync(IReadOnlyCollection<DeliveryTag> tags, bool requeue, TimeSpan? delay = null);

    /// <summary>Rejects one delivery without requeue, adding <paramref name="deadLetterHeaders"/> to the dead-lettered copy where the backend can.</summary>
    Task RejectAsync(DeliveryTag tag, IReadOnlyDictionary<string, string> deadLetterHeaders);

    /// <summary>Extends the leases of pulled deliveries to <paramref name="lease"/> from now, all or none (<see cref="BrokerFeature.LeaseExtend"/>).</summary>
    ValueTask ExtendLeasesAsync(IReadOnlyCollection<DeliveryTag> tags, TimeSpan lease);

    /// <summary>Drops every ready message; returns how many.</summary>
    Task<int> PurgeAsync();
}

/// <summary>
/// A subscription on a queue (a WebSocket or SSE consumer, or a webhook's). Its deliveries arrive in order on
/// <see cref="Deliveries"/>, which completes when the subscription ends (<see cref="EndReason"/> says why); they are
/// settled through <see cref="Queue"/>.
/// </summary>
public interface IBrokerSubscription
{
    /// <summary>The queue subscribed to.</summary>
    IBrokerQueue Queue { get; }

    /// <summary>The most unacknowledged deliveries it may hold.</summary>
    int Prefetch { get; }

    /// <summary>Its deliveries, in order.</summary>
    ChannelReader<Delivery> Deliveries { get; }

    /// <summary>Why it ended, once it has.</summary>
    ConsumerEndReason EndReason { get; }

    /// <summary>
    /// Ends it: its unacknowledged deliveries return to the queue (redelivered), and an auto-delete queue that has
    /// lost its last consumer is deleted.
    /// </summary>
    ValueTask CancelAsync();

    /// <summary>
    /// Ends it as <see cref="CancelAsync"/> does, but keeps an auto-delete queue where the backend can (pausing or
    /// changing a webhook must not delete its queue). RabbitMQ deletes an auto-delete queue with its last consumer
    /// whatever the client wants: there this is <see cref="CancelAsync"/>.
    /// </summary>
    ValueTask StopAsync() => CancelAsync();
}
