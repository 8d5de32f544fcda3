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

namespace Gateway.Server.Tests;

/// <summary>One request a <see cref="WebhookReceiver"/> got.</summary>
internal sealed record ReceivedRequest(int Index, DateTimeOffset At, string Method, string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string Text => System.Text.Encoding.UTF8.GetString(Body);
    public string? Header(string name) => Headers.GetValueOrDefault(name.ToLowerInvariant());
}

/// <summary>
/// A real HTTP endpoint for webhooks: Kestrel on 127.0.0.1 (a free port, or a given one), recording every request and
/// answering what <see cref="Respond"/> says (204 by default).
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedRequest> _requests = new();
    private int _count;
    private int _active;
    private int _maxActive;

    private WebhookReceiver(WebApplication app) => _app = app;

    /// <summary>What to answer a request: set the response (status, headers, body) on the context. Default: 204.</summary>
    public Func<ReceivedRequest, HttpContext, Task> Respond { get; set; } = (_, http) =>
    {
        http.Response.StatusCode = StatusCodes.Status204NoContent;
        return Task.CompletedTask;
    };

    public int Port { get; private set; }

    /// <summary>The endpoint to give a webhook.</summary>
    public string Url => $"http://127.0.0.1:{Port}/hook";

    public IReadOnlyList<ReceivedRequest> Requests => [.. _requests];

    /// <summary>Most requests that were being answered at the same time.</summary>
    public int MaxConcurrent => Volatile.Read(ref _maxActive);

    public static async Task<WebhookReceiver> StartAsync(int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "WebhookReceiver" });
        builder.WebHost.UseKestrel().UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.Run(receiver.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Port = new Uri(address).Port;
        return receiver;
    }

    /// <summary>A loopback port nobody listens on (for "endpoint down" cases; start a receiver on it later).</summary>
    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private async Task HandleAsync(HttpContext http)
    {
        var active = Interlocked.Increment(ref _active);
        int seen;
        while (active > (seen = Volatile.Read(ref _maxActive)) && Interlocked.CompareExchange(ref _maxActive, active, seen) != seen) { }
        try
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body);
            var headers = http.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
            var request = new ReceivedRequest(Interlocked.Increment(ref _count), DateTimeOffset.UtcNow, http.Request.Method, http.Request.Path,
                headers, body.ToArray());
            _requests.Enqueue(request);
            await Respond(request, http);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    /// <summary>Waits until at least <paramref name="count"/> requests arrived (or <see cref="Eventually.Deadline"/>).</summary>
    public Task<IReadOnlyList<ReceivedRequest>> WaitForAsync(int count, string? what = null) =>
        Eventually.WaitForAsync(() => Task.FromResult(Requests), r => r.Count >= count, what ?? $"{count} webhook request(s)");

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }
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
