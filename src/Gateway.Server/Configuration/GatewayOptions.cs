using System.ComponentModel.DataAnnotations;

namespace Gateway.Server.Configuration;

/// <summary>Message statistics, bound from <c>Gateway:Statistics</c>.</summary>
public sealed class StatisticsOptions
{
    /// <summary>
    /// How often queue and exchange counters are sampled into rates, in milliseconds. The default is 1000. Sampling reads
    /// counters only; a shorter interval gives fresher rates for a little CPU per queue.
    /// </summary>
    [Range(100, 60_000, ErrorMessage = "Gateway:Statistics:SampleIntervalMilliseconds must be between {1} and {2}.")]
    public int SampleIntervalMilliseconds { get; set; } = 1000;

    /// <summary>
    /// The sliding window rates are averaged over, in seconds. The default is 10. It must cover at least one sample interval.
    /// </summary>
    [Range(1, 3600, ErrorMessage = "Gateway:Statistics:RateWindowSeconds must be between {1} and {2}.")]
    public int RateWindowSeconds { get; set; } = 10;
}

/// <summary>Graceful shutdown, bound from <c>Gateway:Shutdown</c>.</summary>
public sealed class ShutdownOptions
{
    /// <summary>
    /// The longest a graceful stop (SIGTERM) may take, in seconds: requests in flight get this long to finish before the
    /// host gives up on them and exits. The default is 10, what <c>docker stop</c> waits before it kills.
    /// </summary>
    [Range(1, 600, ErrorMessage = "Gateway:Shutdown:TimeoutSeconds must be between {1} and {2}.")]
    public int TimeoutSeconds { get; set; } = 10;
}

/// <summary>Definitions imported at start, bound from <c>Gateway:Definitions</c>.</summary>
public sealed class DefinitionsOptions
{
    /// <summary>
    /// A definitions file (RabbitMQ's format) imported once recovery has finished, before the gateway reports ready; the
    /// command-line option <c>--definitions FILE</c> sets it. The default is none. An unreadable or malformed file stops
    /// the start; items the gateway refuses are logged.
    /// </summary>
    public string? File { get; set; }
}
