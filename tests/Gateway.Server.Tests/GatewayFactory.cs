using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Gateway.Server.Tests;

/// <summary>
/// One in-memory Gateway per test class (<c>IClassFixture&lt;GatewayFactory&gt;</c>). Tests share the server, so each
/// isolates itself in a fresh vhost (<see cref="GatewayApi.CreateVhostAsync"/>); classes run in parallel, each
/// with its own server.
/// </summary>
public class GatewayFactory : WebApplicationFactory<Program>
{
    /// <summary>The JSON options every test reads and writes with (camelCase, as the API).</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>This server's own data folder (a real SQLite file), deleted with the factory.</summary>
    public string DataPath { get; } = Path.Combine(Path.GetTempPath(), "gateway-server-tests", Guid.NewGuid().ToString("N"));

    /// <summary>
    /// Authentication is off for the API tests (each isolates itself in a vhost); the security tests use
    /// <see cref="SecuredGateway"/>, which keeps the default (on) with a known bootstrap key.
    /// </summary>
    protected virtual bool Authentication => false;

    /// <summary>Configuration settings of this server (e.g. <c>Gateway:Limits:MaxPrefetch</c>), applied at start: set them in a constructor.</summary>
    protected Dictionary<string, string> Settings { get; } = new(StringComparer.Ordinal);

    protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
    {
        builder.UseSetting("Gateway:DataPath", DataPath).UseSetting("Gateway:Storage:Synchronous", "Normal")
            // Rates sampled ten times a second, so that tests see them move quickly.
            .UseSetting("Gateway:Statistics:SampleIntervalMilliseconds", "100")
            // The AMQP listener takes a free port: test servers run in parallel, and RabbitMQ may hold 5672.
            .UseSetting("Gateway:Amqp:Port", "0");
        if (!Authentication) builder.UseSetting("Gateway:Auth:Enabled", "false");
        else builder.UseSetting("Gateway:Auth:BootstrapKey", SecuredGateway.AdminKey);
        foreach (var (name, value) in Settings) builder.UseSetting(name, value);
    }

    /// <summary>A service of the running server (its memory alarm, its connection counts).</summary>
    public T Service<T>() where T : notnull => (T)Services.GetService(typeof(T))!;

    /// <summary>Starts the host and waits until recovery has finished, so tests never meet the 503 of a starting gateway.</summary>
    protected override Microsoft.Extensions.Hosting.IHost CreateHost(Microsoft.Extensions.Hosting.IHostBuilder builder)
    {
        var host = base.CreateHost(builder);
        var readiness = (Gateway.Server.Http.ReadinessState)host.Services.GetService(typeof(Gateway.Server.Http.ReadinessState))!;
        // SpinWait backs off to sleeping, so a dozen servers starting in parallel do not each burn a core meanwhile.
        if (!SpinWait.SpinUntil(() => readiness.IsReady, TimeSpan.FromSeconds(30)))
            throw new TimeoutException("The gateway did not finish recovery: " + readiness.NotReadyReason);
        return host;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        try { Directory.Delete(DataPath, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A Gateway with authentication on (the default configuration) and a known administrator key.</summary>
public class SecuredGateway : GatewayFactory
{
    /// <summary>The bootstrap administrator's key (Gateway:Auth:BootstrapKey), in Gateway's own format.</summary>
    public const string AdminKey = "gw_testadminkey.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    protected override bool Authentication => true;

    /// <summary>A client that sends the administrator's key.</summary>
    public HttpClient CreateAdminClient() => CreateClientWithKey(AdminKey);

    /// <summary>A client that sends <paramref name="key"/> as a bearer token.</summary>
    public HttpClient CreateClientWithKey(string key)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client;
    }
}

/// <summary>
/// A secured Gateway served by Kestrel on a loopback port (not the in-memory test server), for what only a real HTTP
/// server shows: raw request targets (percent-encoding, dot segments) as clients send them. <see cref="Client"/> talks
/// to it over sockets with the administrator's key.
/// </summary>
public sealed class KestrelGateway : SecuredGateway
{
    public KestrelGateway()
    {
        UseKestrel(0);
        StartServer();
    }

    /// <summary>The server's address, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri Address => ClientOptions.BaseAddress;

    /// <summary>An HTTP client over sockets that sends the administrator's key.</summary>
    public HttpClient CreateSocketClient()
    {
        var client = new HttpClient { BaseAddress = Address };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminKey);
        return client;
    }
}

/// <summary>A Gateway configured with a small <c>Gateway:Limits:MaxMessageBytes</c>, for the 413 tests.</summary>
public sealed class SmallMessageLimitGateway : IDisposable
{
    public const int MaxMessageBytes = 1024;

    private readonly GatewayFactory _root = new();

    public SmallMessageLimitGateway() =>
        Factory = _root.WithWebHostBuilder(b => b.UseSetting("Gateway:Limits:MaxMessageBytes", MaxMessageBytes.ToString(CultureInfo.InvariantCulture)));

    public WebApplicationFactory<Program> Factory { get; }

    public void Dispose()
    {
        Factory.Dispose();
        _root.Dispose();
    }
}

/// <summary>URLs of the HTTP API, with every name escaped as one path segment.</summary>
internal static class Urls
{
    public const string Vhosts = "/api/vhosts";

    public static string Vhost(string vhost) => $"{Vhosts}/{E(vhost)}";
    public static string Exchanges(string vhost) => $"{Vhost(vhost)}/exchanges";
    public static string Exchange(string vhost, string exchange) => $"{Exchanges(vhost)}/{E(exchange)}";
    public static string Publish(string vhost, string exchange) => $"{Exchange(vhost, exchange)}/publish";
    public static string PublishBatch(string vhost, string exchange) => $"{Exchange(vhost, exchange)}/publish/batch";
    public static string PublishRaw(string vhost, string exchange, string routingKey = "") =>
        $"{Exchange(vhost, exchange)}/messages?routingKey={E(routingKey)}";
    public static string Queues(string vhost) => $"{Vhost(vhost)}/queues";
    public static string Queue(string vhost, string queue) => $"{Queues(vhost)}/{E(queue)}";
    public static string QueueMessages(string vhost, string queue) => $"{Queue(vhost, queue)}/messages";
    public static string Get(string vhost, string queue) => $"{Queue(vhost, queue)}/get";
    public static string Ack(string vhost, string queue) => $"{Queue(vhost, queue)}/ack";
    public static string Nack(string vhost, string queue) => $"{Queue(vhost, queue)}/nack";
    public static string Extend(string vhost, string queue) => $"{Queue(vhost, queue)}/extend";
    public static string Next(string vhost, string queue) => $"{Queue(vhost, queue)}/messages/next";
    public static string Bindings(string vhost) => $"{Vhost(vhost)}/bindings";
    public static string Binding(string vhost, string id) => $"{Bindings(vhost)}/{E(id)}";

    private static string E(string segment) => Uri.EscapeDataString(segment);
}

/// <summary>
/// Short, asserting steps for the arrangement part of tests: each checks that the server accepted the call, so a
/// failing arrangement names itself instead of surfacing as a confusing assertion later.
/// </summary>
internal static class GatewayApi
{
    /// <summary>Creates a vhost with a unique name and returns the name.</summary>
    public static async Task<string> CreateVhostAsync(this HttpClient client, string prefix = "t")
    {
        var name = $"{prefix}-{Guid.NewGuid():N}";
        await client.SendOkAsync(HttpMethod.Put, Urls.Vhost(name), body: null, HttpStatusCode.Created);
        return name;
    }

    public static Task DeclareExchangeAsync(this HttpClient client, string vhost, string exchange, string type = "direct",
        bool durable = true, bool autoDelete = false, bool @internal = false, object? arguments = null) =>
        client.SendOkAsync(HttpMethod.Put, Urls.Exchange(vhost, exchange),
            new { type, durable, autoDelete, @internal, arguments }, HttpStatusCode.Created);

    public static Task DeclareQueueAsync(this HttpClient client, string vhost, string queue, object? body = null) =>
        client.SendOkAsync(HttpMethod.Put, Urls.Queue(vhost, queue), body ?? new { }, HttpStatusCode.Created);

    public static async Task<ApiBinding> BindAsync(this HttpClient client, string vhost, string source, string destination,
        string routingKey = "", string destinationType = "queue", object? arguments = null)
    {
        var response = await client.SendOkAsync(HttpMethod.Post, Urls.Bindings(vhost),
            new { source, destination, destinationType, routingKey, arguments }, HttpStatusCode.Created);
        return (await response.Content.ReadFromJsonAsync<ApiBinding>(GatewayFactory.Json))!;
    }

    /// <summary>Publishes a text payload and returns the confirm.</summary>
    public static async Task<ApiPublishResult> PublishAsync(this HttpClient client, string vhost, string exchange, string routingKey,
        string payload, object? properties = null)
    {
        var response = await client.SendOkAsync(HttpMethod.Post, Urls.Publish(vhost, exchange),
            new { routingKey, payload, properties }, HttpStatusCode.OK);
        return (await response.Content.ReadFromJsonAsync<ApiPublishResult>(GatewayFactory.Json))!;
    }

    /// <summary>Publishes a text payload straight to a queue through the default exchange.</summary>
    public static Task<ApiPublishResult> PublishToQueueAsync(this HttpClient client, string vhost, string queue, string payload) =>
        client.PublishAsync(vhost, "amq.default", queue, payload);

    /// <summary>Pulls from a queue with the given request body and returns the deliveries.</summary>
    public static async Task<List<ApiDelivery>> GetAsync(this HttpClient client, string vhost, string queue, object? request = null)
    {
        var response = await client.SendOkAsync(HttpMethod.Post, Urls.Get(vhost, queue), request ?? new { }, HttpStatusCode.OK);
        return (await response.Content.ReadFromJsonAsync<List<ApiDelivery>>(GatewayFactory.Json))!;
    }

    public static async Task<ApiQueue> GetQueueAsync(this HttpClient client, string vhost, string queue)
    {
        var response = await client.SendOkAsync(HttpMethod.Get, Urls.Queue(vhost, queue), body: null, HttpStatusCode.OK);
        return (await response.Content.ReadFromJsonAsync<ApiQueue>(GatewayFactory.Json))!;
    }

    public static async Task<T> GetJsonAsync<T>(this HttpClient client, string url)
    {
        var response = await client.SendOkAsync(HttpMethod.Get, url, body: null, HttpStatusCode.OK);
        return (await response.Content.ReadFromJsonAsync<T>(GatewayFactory.Json))!;
    }

    public static async Task<List<ApiBinding>> ListBindingsAsync(this HttpClient client, string vhost)
    {
        var response = await client.SendOkAsync(HttpMethod.Get, Urls.Bindings(vhost), body: null, HttpStatusCode.OK);
        return (await response.Content.ReadFromJsonAsync<List<ApiBinding>>(GatewayFactory.Json))!;
    }

    /// <summary>POSTs a JSON body (serialized with the test options).</summary>
    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string url, object body) =>
        client.PostAsJsonAsync(url, body, GatewayFactory.Json);

    /// <summary>PUTs a JSON body (serialized with the test options).</summary>
    public static Task<HttpResponseMessage> PutJsonAsync(this HttpClient client, string url, object body) =>
        client.PutAsJsonAsync(url, body, GatewayFactory.Json);

    /// <summary>Sends a body that is exactly <paramref name="json"/> (for malformed or hand-written JSON).</summary>
    public static Task<HttpResponseMessage> SendRawJsonAsync(this HttpClient client, HttpMethod method, string url, string json) =>
        client.SendAsync(new HttpRequestMessage(method, url)
        {
            Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json"),
        });

    /// <summary>Sends a request and asserts its status, showing the body when it differs.</summary>
    public static async Task<HttpResponseMessage> SendOkAsync(this HttpClient client, HttpMethod method, string url, object? body,
        HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(method, url);
        if (body is not null) request.Content = JsonContent.Create(body, options: GatewayFactory.Json);
        var response = await client.SendAsync(request);
        if (response.StatusCode != expected)
            Assert.Fail($"{method} {url} answered {(int)response.StatusCode}, expected {(int)expected}: {await response.Content.ReadAsStringAsync()}");
        return response;
    }
}

/// <summary>Waiting for a condition the server reaches on its own (lease timers, settlement after a response).</summary>
internal static class Eventually
{
    /// <summary>The longest any condition is waited for; a safety net, never a timing assumption.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>Probes until <paramref name="condition"/> holds, failing with the last value after <see cref="Deadline"/>.</summary>
    public static async Task<T> WaitForAsync<T>(Func<Task<T>> probe, Func<T, bool> condition, string what)
    {
        var started = Stopwatch.StartNew();
        while (true)
        {
            var value = await probe();
            if (condition(value)) return value;
            if (started.Elapsed > Deadline) Assert.Fail($"Gave up after {Deadline.TotalSeconds} s waiting for {what}; last seen: {value}");
            await Task.Delay(PollInterval);
        }
    }
}

/// <summary>Finds files of the repository from the test's output folder.</summary>
internal static class RepositoryPaths
{
    /// <summary>The folder holding Gateway.sln.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No Gateway.sln above {AppContext.BaseDirectory}.");
    }
}

/// <summary>WebSockets through the test server (the in-memory tier; Gateway.EndToEnd.Tests use a real Kestrel).</summary>
internal static class TestServerSockets
{
    /// <summary>Opens a socket to <paramref name="vhost"/> through the test server, offering the <c>gateway.v1.json</c> subprotocol.</summary>
    /// <remarks><paramref name="configure"/> adds request headers (Authorization, Origin), <paramref name="query"/> a query string (<c>?ticket=…</c>).</remarks>
    public static async Task<Gateway.Testing.SocketClient> ConnectAsync(WebApplicationFactory<Program> factory, string vhost,
        Action<Microsoft.AspNetCore.Http.HttpRequest>? configure = null, string? query = null)
    {
        var client = factory.Server.CreateWebSocketClient();
        client.SubProtocols.Add(Gateway.Testing.SocketClient.SubProtocol);
        if (configure is not null) client.ConfigureRequest = configure;
        using var timeout = new CancellationTokenSource(Gateway.Testing.SocketClient.FrameTimeout);
        return new Gateway.Testing.SocketClient(await client.ConnectAsync(new Uri(Gateway.Testing.SocketClient.Url(vhost) + (query ?? "")), timeout.Token));
    }

    /// <summary>Opens a socket with a bearer key (and an Origin header when given).</summary>
    public static Task<Gateway.Testing.SocketClient> ConnectWithKeyAsync(WebApplicationFactory<Program> factory, string vhost, string key,
        string? origin = null) =>
        ConnectAsync(factory, vhost, request =>
        {
            request.Headers.Authorization = "Bearer " + key;
            if (origin is not null) request.Headers.Origin = origin;
        });

    /// <summary>The HTTP status of an upgrade the server refused (the test server reports it in the handshake's failure).</summary>
    public static async Task<int> RefusedStatusAsync(Func<Task<Gateway.Testing.SocketClient>> connect)
    {
        try
        {
            await using var socket = await connect();
        }
        catch (InvalidOperationException e) when (e.Message.Contains("status code", StringComparison.OrdinalIgnoreCase))
        {
            return int.Parse(e.Message[(e.Message.LastIndexOf(' ') + 1)..].Trim('.'), System.Globalization.CultureInfo.InvariantCulture);
        }
        Assert.Fail("The server accepted the WebSocket it should have refused.");
        return 0;
    }
}
