using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Gateway.Server.Http;

/// <summary>Whether the gateway is ready for traffic. Start-up work (such as recovery) flips it when done.</summary>
public sealed class ReadinessState
{
    private volatile string? _notReadyReason = "starting";
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes the first time the gateway becomes ready (for work that must wait for recovery).</summary>
    public Task Ready => _ready.Task;

    /// <summary>True once start-up has finished.</summary>
    public bool IsReady => _notReadyReason is null;

    /// <summary>Why it is not ready, when it is not.</summary>
    public string? NotReadyReason => _notReadyReason;

    /// <summary>Marks the gateway ready.</summary>
    public void MarkReady()
    {
        _notReadyReason = null;
        _ready.TrySetResult();
    }

    /// <summary>Marks the gateway not ready, with the reason shown by /readyz.</summary>
    public void MarkNotReady(string reason) => _notReadyReason = reason;
}

internal sealed class ReadinessHealthCheck(ReadinessState state) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(state.IsReady ? HealthCheckResult.Healthy("ready") : HealthCheckResult.Unhealthy(state.NotReadyReason));
}

/// <summary>
/// Whether the broker backend can serve (the embedded engine always can; RabbitMQ when a node is reachable). The check
/// gives up after two seconds: /readyz answers "not ready" rather than hang on a backend that does not answer.
/// </summary>
internal sealed class BackendHealthCheck(Gateway.Broker.IBroker broker) : IHealthCheck
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(2);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Patience);
        try
        {
            var health = await broker.CheckHealthAsync(timeout.Token);
            return health.Ready ? HealthCheckResult.Healthy(health.Detail) : HealthCheckResult.Unhealthy($"{broker.Features.Backend}: {health.Detail}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"{broker.Features.Backend}: no answer within {Patience.TotalSeconds:0} s.");
        }
    }
}

/// <summary>
/// The /readyz body: the status (Healthy, Degraded, Unhealthy), then one line per check that is not healthy with its
/// reason (recovery under way, memory alarm raised), so that an operator sees why without reading the logs.
/// </summary>
internal static class HealthReportText
{
    public static Task WriteAsync(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "text/plain; charset=utf-8";
        var text = new System.Text.StringBuilder(report.Status.ToString());
        foreach (var (name, entry) in report.Entries)
            if (entry.Status != HealthStatus.Healthy) text.Append('\n').Append(name).Append(": ").Append(entry.Description);
        return http.Response.WriteAsync(text.ToString());
    }
}
