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
}
