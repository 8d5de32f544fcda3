using System.Diagnostics;
using Xunit.Sdk;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// One built server process shared by a test class (<c>IClassFixture&lt;LiveGateway&gt;</c>), for the protocol tests
/// against a real Kestrel that need no crash: each test keeps apart in a vhost of its own
/// (<see cref="NewVhostAsync"/>). Small limits make the oversized-frame cases cheap, and a one-second heartbeat makes
/// the Server-Sent Events heartbeat observable.
/// </summary>
public sealed class LiveGateway(IMessageSink sink) : IAsyncLifetime
{
    public const int MaxMessageBytes = 16 * 1024;
    public const int MaxRequestBodyBytes = 64 * 1024;
    public const int HeartbeatSeconds = 1;

    private GatewayProcess? _process;

    public GatewayProcess Process => _process ?? throw new InvalidOperationException("The gateway has not started.");

    /// <summary>Where the server listens (http://127.0.0.1:port/).</summary>
    public Uri BaseAddress => Process.BaseAddress;

    public async Task InitializeAsync() =>
        _process = await GatewayProcess.StartAsync(new SinkOutput(sink), new Dictionary<string, string>
        {
            ["Gateway:Limits:MaxMessageBytes"] = MaxMessageBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Gateway:Limits:MaxRequestBodyBytes"] = MaxRequestBodyBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Gateway:EventStream:HeartbeatSeconds"] = HeartbeatSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

    public async Task DisposeAsync()
    {
        if (_process is not null) await _process.DisposeAsync();
    }

    /// <summary>A fresh vhost's API on the shared server.</summary>
    public Task<GatewayApi> NewVhostAsync() => Process.Api.CreateVhostAsync();

    /// <summary>A fresh vhost with a durable queue <paramref name="queue"/> holding <paramref name="payloads"/> (transient), in order.</summary>
    public async Task<GatewayApi> NewVhostWithQueueAsync(string queue, params string[] payloads)
    {
        var api = await NewVhostAsync();
        await api.DeclareQueueAsync(queue);
        foreach (var payload in payloads) await api.PublishAsync("amq.default", new PublishEnvelope(queue, payload));
        return api;
    }

    /// <summary>A real <see cref="System.Net.WebSockets.ClientWebSocket"/> to <paramref name="api"/>'s vhost.</summary>
    public Task<Gateway.Testing.SocketClient> ConnectAsync(GatewayApi api) => Gateway.Testing.SocketClient.ConnectAsync(BaseAddress, api.VhostName);

    /// <summary>Probes until <paramref name="condition"/> holds; fails with the last value after <paramref name="deadline"/> (10 s when null).</summary>
    public static async Task<T> WaitForAsync<T>(Func<Task<T>> probe, Func<T, bool> condition, string what, TimeSpan? deadline = null)
    {
        var limit = deadline ?? TimeSpan.FromSeconds(10);
        var started = Stopwatch.StartNew();
        while (true)
        {
            var value = await probe();
            if (condition(value)) return value;
            if (started.Elapsed > limit) Assert.Fail($"Gave up after {limit.TotalSeconds} s waiting for {what}; last seen: {value}");
            await Task.Delay(20);
        }
    }

    /// <summary>The server's output goes to the diagnostic sink: a class fixture has no test output of its own.</summary>
    private sealed class SinkOutput(IMessageSink sink) : ITestOutputHelper
    {
        public void WriteLine(string message) => sink.OnMessage(new DiagnosticMessage(message));
        public void WriteLine(string format, params object[] args) => sink.OnMessage(new DiagnosticMessage(format, args));
    }
}
