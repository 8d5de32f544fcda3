using System.Text.Json;
using Gateway.Storage;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Gateway.Server.Http;

/// <summary>
/// Health endpoints through ASP.NET Core health checks. <c>/healthz</c> (liveness) runs no check: it answers 200 while
/// the process serves HTTP. <c>/readyz</c> runs every check tagged <see cref="Ready"/>: recovery finished
/// (<see cref="ReadinessHealthCheck"/>) and storage open (<see cref="StorageHealthCheck"/>).
/// </summary>
/// <remarks>
/// The extension point: any <see cref="IHealthCheck"/> registered with the tag <see cref="Ready"/>
/// (<c>services.AddHealthChecks().AddCheck&lt;T&gt;("name", tags: [Health.Ready])</c>) takes part in /readyz — the
/// memory high-watermark check belongs there. Unhealthy answers 503; Degraded answers 200 and says why.
/// </remarks>
internal static class Health
{
    /// <summary>The tag of the checks /readyz runs.</summary>
    public const string Ready = "ready";

    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteAsync })
            .AllowAnonymous().DisableRateLimiting().WithTags("Operations").WithName("Liveness").WithSummary("Liveness: 200 while the process serves HTTP");
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = check => check.Tags.Contains(Ready), ResponseWriter = WriteAsync })
            .AllowAnonymous().DisableRateLimiting().WithTags("Operations").WithName("Readiness").WithSummary("Readiness: storage open and recovery finished (503 until then)");
        return app;
    }

    // {"status":"Healthy","checks":{"recovery":{"status":"Healthy","description":"ready"},…}}
    private static async Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        json.WriteStartObject();
        json.WriteString("status", report.Status.ToString());
        json.WriteStartObject("checks");
        foreach (var (name, entry) in report.Entries)
        {
            json.WriteStartObject(name);
            json.WriteString("status", entry.Status.ToString());
            if (entry.Description is { } description) json.WriteString("description", description);
            json.WriteEndObject();
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }
}

/// <summary>Storage open: the journal writer runs and its last commit went through (else Degraded, with the reason).</summary>
internal sealed class StorageHealthCheck(SqliteStore store) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(store.Problem switch
        {
            null => HealthCheckResult.Healthy("open: " + store.DatabasePath),
            // A failed commit (disk full, locked file) is retried with the next batch: still serving, but say so.
            { } problem when problem.StartsWith("the last journal commit failed", StringComparison.Ordinal) => HealthCheckResult.Degraded(problem),
            { } problem => HealthCheckResult.Unhealthy(problem),
        });
}
