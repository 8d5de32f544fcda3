namespace Gateway.Broker;

/// <summary>The optional capabilities of a backend, beyond the AMQP model that every backend has.</summary>
[Flags]
public enum BrokerFeature
{
    /// <summary>None.</summary>
    None = 0,
    /// <summary>Messages published with an <c>x-delay</c> header wait that long before they are routed to consumers.</summary>
    DelayedDelivery = 1 << 0,
    /// <summary>A nack with requeue may say how long the message stays invisible first.</summary>
    NackWithDelay = 1 << 1,
    /// <summary>Pulled deliveries are leased and the lease can be extended.</summary>
    LeaseExtend = 1 << 2,
    /// <summary>An event stream resumed with Last-Event-ID gets back the deliveries it had not acknowledged.</summary>
    EventStreamResume = 1 << 3,
    /// <summary>Webhook push subscriptions.</summary>
    Webhooks = 1 << 4,
    /// <summary>Per-queue and per-exchange message rates.</summary>
    Statistics = 1 << 5,
    /// <summary>A batch published atomically: all of it is routed, or nothing.</summary>
    AtomicBatch = 1 << 6,
    /// <summary>The definitions import is one transaction.</summary>
    AtomicImport = 1 << 7,
    /// <summary>A count of delayed messages per queue.</summary>
    DelayedCount = 1 << 8,
    /// <summary>
    /// Not a capability but a property: every gateway node on this backend sees the same queues (a RabbitMQ cluster),
    /// so what only one consumer may do for all of them (run a webhook) is claimed by one node in the shared store.
    /// </summary>
    SharedByNodes = 1 << 9,
}

/// <summary>What a backend is and can do.</summary>
/// <param name="Backend">Its name as users configure it (<c>Embedded</c>, <c>RabbitMq</c>); problem documents name it.</param>
/// <param name="Supported">Its optional capabilities.</param>
public sealed record BrokerFeatures(string Backend, BrokerFeature Supported)
{
    /// <summary>True when the backend has <paramref name="feature"/>.</summary>
    public bool Has(BrokerFeature feature) => (Supported & feature) == feature;

    /// <summary>Throws <see cref="FeatureNotSupportedException"/> unless the backend has <paramref name="feature"/>.</summary>
    /// <param name="feature">The capability needed.</param>
    /// <param name="what">What the caller wanted, for the message (e.g. "nack with delayMilliseconds").</param>
    public void Require(BrokerFeature feature, string what)
    {
        if (!Has(feature)) throw new FeatureNotSupportedException(Backend, feature, what);
    }
}

/// <summary>The request needs a capability that the configured backend does not have (HTTP 501, naming the backend).</summary>
public sealed class FeatureNotSupportedException(string backend, BrokerFeature feature, string what)
    : Exception($"{what} is not supported by the {backend} backend (Gateway:Backend).")
{
    /// <summary>The backend's name.</summary>
    public string Backend { get; } = backend;
    /// <summary>The capability missing.</summary>
    public BrokerFeature Feature { get; } = feature;
}

/// <summary>
/// The backend cannot be reached now (e.g. every RabbitMQ node is down). Nothing was done; the client may retry after
/// <see cref="RetryAfter"/> (HTTP 503 with Retry-After).
/// </summary>
public sealed class BrokerUnavailableException(string message, TimeSpan retryAfter, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>When a retry may succeed.</summary>
    public TimeSpan RetryAfter { get; } = retryAfter;
}
