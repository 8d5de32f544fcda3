namespace Gateway.Server.Contracts;

/// <summary>Fixed protocol limits of the HTTP API (configurable sizes live in <see cref="GatewayLimitsOptions"/>).</summary>
public static class Limits
{
    /// <summary>Most deliveries one pull answers.</summary>
    public const int MaxGetMessages = 1000;
    /// <summary>Longest long-poll wait, in seconds.</summary>
    public const int MaxWaitSeconds = 120;
    /// <summary>Longest lease, in seconds (12 hours).</summary>
    public const int MaxLeaseSeconds = 43_200;
    /// <summary>Lease when none is asked for, in seconds.</summary>
    public const int DefaultLeaseSeconds = 30;
    /// <summary>Most delivery tags in one ack, nack or extend.</summary>
    public const int MaxTagsPerRequest = 10_000;
}

/// <summary>Size limits, bound from <c>Gateway:Limits</c>.</summary>
public sealed class GatewayLimitsOptions
{
    /// <summary>Largest message payload in bytes; bigger publishes answer 413. The default is 4 MiB.</summary>
    public int MaxMessageBytes { get; set; } = 4 * 1024 * 1024;
    /// <summary>Largest request body in bytes (a batch carries many messages); bigger requests answer 413. The default is 64 MiB.</summary>
    public long MaxRequestBodyBytes { get; set; } = 64L * 1024 * 1024;
    /// <summary>Most messages in one batch publish. The default is 10,000.</summary>
    public int MaxBatchMessages { get; set; } = 10_000;

    /// <summary>
    /// Most application headers (entries of <c>properties.headers</c>, or <c>Amqp-Header-*</c> of a raw publish) on one
    /// message; more answer 400 on every publish path. The default is 128.
    /// </summary>
    public int MaxHeaders { get; set; } = 128;

    /// <summary>
    /// Largest total size of a message's application headers, in bytes: names and values as UTF-8 (numbers 8 bytes,
    /// nested tables and arrays counted whole); bigger answer 400 on every publish path. The default is 65,536.
    /// </summary>
    public int MaxHeaderBytes { get; set; } = 64 * 1024;

    /// <summary>Largest prefetch a WebSocket subscription or an event stream may ask for. The default is 10,000.</summary>
    public int MaxPrefetch { get; set; } = 10_000;

    /// <summary>
    /// Most WebSocket and event-stream connections one user holds open at once (with authentication off: one remote
    /// address); one more answers 429 with Retry-After. The default is 1,000.
    /// </summary>
    public int MaxConnectionsPerUser { get; set; } = 1_000;

    /// <summary>
    /// Requests per second one user may make on average (with authentication off, or before signing in: one remote
    /// address), enforced by a token bucket (ASP.NET Core rate limiting); beyond it, 429 with Retry-After. The default,
    /// 100,000, is above what one machine serves, so that only a runaway client meets it.
    /// </summary>
    public int RequestsPerSecondPerUser { get; set; } = 100_000;

    /// <summary>Requests one user may make at once before the rate applies (the bucket's size). The default is 100,000.</summary>
    public int RequestBurstPerUser { get; set; } = 100_000;

    /// <summary>
    /// Most long polls waiting at once over all users (get with waitSeconds, messages/next with wait); one more answers
    /// at once with what is ready, or 503 with Retry-After when nothing is. The default is 10,000.
    /// </summary>
    public int MaxLongPollWaiters { get; set; } = 10_000;

    /// <summary>
    /// Memory high-watermark in bytes (as RabbitMQ's vm_memory_high_watermark): while the gateway's managed heap is
    /// above it, every publish path answers 503 with Retry-After (type urn:gateway:problem:memory-alarm) and consumers
    /// keep draining; /readyz reports it. 0 (the default) means <see cref="MemoryHighWatermarkFraction"/> of the memory
    /// available to the process.
    /// </summary>
    public long MemoryHighWatermarkBytes { get; set; }

    /// <summary>The high-watermark as a fraction of the memory available to the process, when <see cref="MemoryHighWatermarkBytes"/> is 0. The default is 0.4 (RabbitMQ's).</summary>
    public double MemoryHighWatermarkFraction { get; set; } = 0.4;

    /// <summary>How often memory is sampled, by a background timer (never on the publish path), in milliseconds. The default is 250.</summary>
    public int MemorySampleMilliseconds { get; set; } = 250;
}
