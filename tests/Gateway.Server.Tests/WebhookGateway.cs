using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Gateway.Testing;

namespace Gateway.Server.Tests;

internal static class WebhookReceiverWaits
{
    /// <summary>Waits until at least <paramref name="count"/> requests arrived (or <see cref="Eventually.Deadline"/>).</summary>
    public static Task<IReadOnlyList<ReceivedRequest>> WaitForAsync(this WebhookReceiver receiver, int count, string? what = null) =>
        Eventually.WaitForAsync(() => Task.FromResult(receiver.Requests), r => r.Count >= count, what ?? $"{count} webhook request(s)");
}

/// <summary>A Gateway whose webhooks may reach 127.0.0.1 (where the test receivers listen).</summary>
public sealed class WebhookGateway : IDisposable
{
    private readonly GatewayFactory _root = new();

    public WebhookGateway() =>
        Factory = _root.WithWebHostBuilder(b => b.UseSetting("Gateway:Webhooks:AllowedNetworks:0", "127.0.0.1/32"));

    public Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program> Factory { get; }

    public void Dispose()
    {
        Factory.Dispose();
        _root.Dispose();
    }
}

internal sealed record ApiWebhookFailure(DateTimeOffset At, string WebhookId, int Attempt, int? Status, string Error, string Outcome);

internal sealed record ApiWebhookStatus(string State, string? DisabledReason, DateTimeOffset? DisabledAt, long Delivered, long Retried, long Failed,
    int InFlight, int Backlog, long LagMilliseconds, string? LastError, DateTimeOffset? LastErrorAt, DateTimeOffset? LastDeliveredAt,
    List<ApiWebhookFailure> RecentFailures);

internal sealed record ApiWebhookRetry(int InitialIntervalMilliseconds, int MaxIntervalMilliseconds, int? MaxAttempts, int? MaxAgeSeconds);

internal sealed record ApiWebhook(string Name, string Vhost, string Queue, string Url, bool HasSecret, DateTimeOffset? PreviousSecretExpiresAt,
    int Concurrency, int TimeoutMilliseconds, ApiWebhookRetry Retry, string Format, bool Enabled, bool Durable, ApiWebhookStatus Status);

/// <summary>Webhook calls for the tests.</summary>
internal static class WebhookApi
{
    public static string Webhooks(string vhost, string queue) => $"{Urls.Queue(vhost, queue)}/webhooks";
    public static string Webhook(string vhost, string queue, string name) => $"{Webhooks(vhost, queue)}/{Uri.EscapeDataString(name)}";

    /// <summary>Fast retries for tests: 10 ms doubling to 100 ms, at most 5 attempts.</summary>
    public static readonly object FastRetry = new { initialIntervalMilliseconds = 10, maxIntervalMilliseconds = 100, maxAttempts = 5 };

    public static async Task<ApiWebhook> PutWebhookAsync(this HttpClient client, string vhost, string queue, string name, object body,
        HttpStatusCode expected = HttpStatusCode.Created)
    {
        var response = await client.SendOkAsync(HttpMethod.Put, Webhook(vhost, queue, name), body, expected);
        return (await response.Content.ReadFromJsonAsync<ApiWebhook>(GatewayFactory.Json))!;
    }

    public static async Task<ApiWebhook> GetWebhookAsync(this HttpClient client, string vhost, string queue, string name)
    {
        var response = await client.SendOkAsync(HttpMethod.Get, Webhook(vhost, queue, name), null, HttpStatusCode.OK);
        return (await response.Content.ReadFromJsonAsync<ApiWebhook>(GatewayFactory.Json))!;
    }

    /// <summary>Polls the webhook until <paramref name="condition"/> holds.</summary>
    public static Task<ApiWebhook> WaitForWebhookAsync(this HttpClient client, string vhost, string queue, string name,
        Func<ApiWebhook, bool> condition, string what) =>
        Eventually.WaitForAsync(() => client.GetWebhookAsync(vhost, queue, name), condition, what);

    public static Task<ApiQueue> WaitForQueueAsync(this HttpClient client, string vhost, string queue, Func<ApiQueue, bool> condition, string what) =>
        Eventually.WaitForAsync(() => client.GetQueueAsync(vhost, queue), condition, what);
}
