using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Server.Security;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Capacity;

/// <summary>
/// The request rate per user: ASP.NET Core's rate limiter with one token bucket per signed-in user, or per remote
/// address for requests without a valid key (so that guessing keys is throttled too). It runs after authentication and
/// before authorization. Beyond the bucket, 429 with <c>Retry-After</c> and a problem of type
/// <c>urn:gateway:problem:too-many-requests</c>. Health checks are never limited.
/// </summary>
internal static class RequestRateLimiting
{
    /// <summary>The partition of a request: the user, or for anonymous requests the address (no string built per request).</summary>
    private readonly record struct Caller(string? User, IPAddress? Address);

    public static IServiceCollection AddGatewayRateLimiting(this IServiceCollection services)
    {
        services.AddRateLimiter(_ => { });
        // Options are read when the limiter is first built, so test hosts' settings apply.
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<GatewayLimitsOptions>>((options, limits) =>
        {
            var bucket = Bucket(limits.Value);
            // One factory for every partition: RateLimitPartition.GetTokenBucketLimiter would build two delegates per request.
            Func<Caller, RateLimiter> newBucket = _ => new TokenBucketRateLimiter(bucket);
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, Caller>(http =>
                new RateLimitPartition<Caller>(Access.UserOf(http.User) is { } user ? new Caller(user, null) : new Caller(null, http.Connection.RemoteIpAddress),
                    newBucket));
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            var (rate, burst) = (limits.Value.RequestsPerSecondPerUser, limits.Value.RequestBurstPerUser);
            options.OnRejected = (context, _) =>
            {
                var seconds = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 1;
                var http = context.HttpContext;
                http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                var who = Access.UserOf(http.User) is { } name ? $"User '{name}'" : $"Address {http.Connection.RemoteIpAddress?.ToString() ?? "unknown"}";
                return new ValueTask(Problems.Problem(StatusCodes.Status429TooManyRequests, "too-many-requests",
                    $"{who} sent more than {rate} requests per second (Gateway:Limits:RequestsPerSecondPerUser, bursts of " +
                    $"{burst}: Gateway:Limits:RequestBurstPerUser); retry after {seconds} s.").ExecuteAsync(http));
            };
        });
        return services;
    }

    // Refilled ten times a second when the rate allows, so that the bucket refills smoothly rather than once a second.
    private static TokenBucketRateLimiterOptions Bucket(GatewayLimitsOptions limits)
    {
        var rate = limits.RequestsPerSecondPerUser;
        var (period, tokens) = rate >= 10 ? (TimeSpan.FromMilliseconds(100), (rate + 9) / 10) : (TimeSpan.FromSeconds(1.0 / rate), 1);
        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = limits.RequestBurstPerUser,
            TokensPerPeriod = tokens,
            ReplenishmentPeriod = period,
            QueueLimit = 0,
            AutoReplenishment = true,
        };
    }
}
