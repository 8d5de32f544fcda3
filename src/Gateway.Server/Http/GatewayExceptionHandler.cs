using System.Text.Json;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Microsoft.AspNetCore.Diagnostics;

namespace Gateway.Server.Http;

/// <summary>
/// Turns exceptions into problem documents. The tiers: malformed requests (bad JSON, wrong types, missing fields,
/// bodies over the limit) answer 4xx with the parser's precise reason; broker refusals answer their mapped status;
/// a backend out of reach answers 503 with Retry-After; a feature the backend does not have, 501 naming the backend;
/// a client that went away gets nothing; anything else is a bug, logged, answered 500 without internals.
/// </summary>
internal sealed partial class GatewayExceptionHandler(ILogger<GatewayExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (context.RequestAborted.IsCancellationRequested) return true;
        var problem = exception switch
        {
            BadHttpRequestException bad => Problems.Problem(bad.StatusCode,
                bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "too-large" : "bad-request", Describe(bad)),
            JsonException json => Problems.BadRequest("The request body is not valid JSON for this operation: " + json.Message),
            BrokerException broker => Problems.From(broker),
            Capacity.CapacityException capacity => RetryLater(context, capacity),
            BrokerUnavailableException unavailable => Unavailable(context, unavailable),
            FeatureNotSupportedException unsupported => Problems.NotSupported(unsupported),
            StorageException storage => Problems.Problem(StatusCodes.Status503ServiceUnavailable, "storage-unavailable",
                "The operation could not be stored, so it was not confirmed; retry later. " + storage.Message),
            _ => null,
        };
        if (problem is null)
        {
            LogUnhandled(exception, context.Request.Method, context.Request.Path);
            problem = Problems.Problem(StatusCodes.Status500InternalServerError, "internal", "An unexpected error occurred; it has been logged.");
        }
        await problem.ExecuteAsync(context);
        return true;
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult RetryLater(HttpContext context, Capacity.CapacityException e)
    {
        context.Response.Headers.RetryAfter = e.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problems.Problem(e.Status, e.Slug, e.Message);
    }

    // The backend (e.g. every RabbitMQ node) is out of reach: nothing was done, and the client may retry.
    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult Unavailable(HttpContext context, BrokerUnavailableException e)
    {
        context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(e.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problems.Problem(StatusCodes.Status503ServiceUnavailable, "backend-unavailable", e.Message);
    }

    private static string Describe(BadHttpRequestException e)
    {
        if (e.StatusCode == StatusCodes.Status413PayloadTooLarge) return "The request body is larger than the configured limit (Gateway:Limits:MaxRequestBodyBytes).";
        return e.InnerException switch
        {
            JsonException json => "The request body is not valid JSON for this operation: " + json.Message,
            { } inner => e.Message + " " + inner.Message,
            _ => e.Message,
        };
    }

    [LoggerMessage(EventId = 1000, Level = LogLevel.Error, Message = "Unhandled exception for {Method} {Path}")]
    private partial void LogUnhandled(Exception exception, string method, string path);
}
