using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Capacity;

/// <summary>
/// The memory high-watermark, as RabbitMQ's memory alarm: a background timer samples the managed heap every
/// <see cref="GatewayLimitsOptions.MemorySampleMilliseconds"/>; while it is above the watermark every publish path is
/// refused (503, Retry-After, type <c>urn:gateway:problem:memory-alarm</c>) and consumers keep draining, so that a
/// publish flood with no consumers cannot take the process down. A publish reads one volatile flag; it never measures.
/// </summary>
/// <remarks>
/// The heap counts garbage until a collection runs, and a drained queue leaves its messages as garbage in the oldest
/// generation, which the runtime collects rarely by itself. So, while the alarm is raised, the sampler asks for a
/// background full collection (at most once a second): the alarm clears as soon as consumers have freed the memory.
/// </remarks>
public sealed partial class MemoryAlarm : BackgroundService
{
    /// <summary>What a refused publish is told to wait before trying again, in seconds.</summary>
    public const int RetryAfterSeconds = 1;

    private static readonly TimeSpan CollectionInterval = TimeSpan.FromSeconds(1);

    private readonly TimeSpan _interval;
    private readonly ILogger<MemoryAlarm> _logger;
    private readonly TimeProvider _time;
    private volatile bool _raised;
    private long _inUse;
    private long _lastCollection = long.MinValue;

    /// <summary>Reads the watermark from <c>Gateway:Limits</c>; sampling starts with the host.</summary>
    public MemoryAlarm(IOptions<GatewayLimitsOptions> options, ILogger<MemoryAlarm> logger, TimeProvider time)
    {
        var limits = options.Value;
        Watermark = limits.MemoryHighWatermarkBytes > 0
            ? limits.MemoryHighWatermarkBytes
            : (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * limits.MemoryHighWatermarkFraction);
        _interval = TimeSpan.FromMilliseconds(limits.MemorySampleMilliseconds);
        _logger = logger;
        _time = time;
    }

    /// <summary>The watermark in bytes.</summary>
    public long Watermark { get; }

    /// <summary>True while memory in use is above the watermark: publishes are refused.</summary>
    public bool IsRaised => _raised;

    /// <summary>Memory in use at the last sample, in bytes.</summary>
    public long InUse => Interlocked.Read(ref _inUse);

    /// <summary>
    /// The refusal of a publish while the alarm is raised (with Retry-After set on the response), else null. The one
    /// check each publish path makes.
    /// </summary>
    public ProblemHttpResult? Refusal(HttpContext http)
    {
        if (!_raised) return null;
        http.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problems.Problem(StatusCodes.Status503ServiceUnavailable, "memory-alarm", Detail);
    }

    /// <summary>Why publishes are refused (also the WebSocket error frame's detail).</summary>
    public string Detail =>
        $"Memory alarm: the gateway uses {InUse:N0} bytes, above its high-watermark of {Watermark:N0} bytes " +
        $"(Gateway:Limits:MemoryHighWatermarkBytes). Publishes are refused until consumers drain the queues; retry after {RetryAfterSeconds} s.";

    /// <summary>Samples until the host stops.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_interval, _time);
        try
        {
            do Observe(GC.GetTotalMemory(forceFullCollection: false));
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>Takes one sample: raises or clears the alarm. Called by the timer (and by tests, to stand for a sample).</summary>
    internal void Observe(long bytesInUse)
    {
        Interlocked.Exchange(ref _inUse, bytesInUse);
        var above = bytesInUse > Watermark;
        if (above != _raised)
        {
            _raised = above;
            if (above) LogRaised(bytesInUse, Watermark);
            else LogCleared(bytesInUse, Watermark);
        }
        var now = _time.GetTimestamp();
        if (above && (_lastCollection == long.MinValue || _time.GetElapsedTime(_lastCollection, now) >= CollectionInterval))
        {
            _lastCollection = now;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: false);
        }
    }

    [LoggerMessage(EventId = 5000, Level = LogLevel.Warning,
        Message = "Memory alarm raised: {InUse} bytes in use, above the high-watermark of {Watermark} bytes; publishes are refused until it clears")]
    private partial void LogRaised(long inUse, long watermark);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information,
        Message = "Memory alarm cleared: {InUse} bytes in use, below the high-watermark of {Watermark} bytes; publishes are accepted again")]
    private partial void LogCleared(long inUse, long watermark);
}

/// <summary>/readyz: degraded (still 200, consumers should keep coming) while the memory alarm is raised.</summary>
internal sealed class MemoryAlarmHealthCheck(MemoryAlarm alarm) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(alarm.IsRaised
            ? HealthCheckResult.Degraded($"memory alarm: {alarm.InUse} bytes in use, above the high-watermark of {alarm.Watermark} bytes; publishes are refused")
            : HealthCheckResult.Healthy($"memory: {alarm.InUse} of {alarm.Watermark} bytes"));
}
