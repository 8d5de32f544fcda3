using System.Globalization;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// The built Gateway server running as a child process on a loopback port, with its data folder in a fresh temp
/// folder that outlives <see cref="Kill"/> and <see cref="StopAsync"/> so that <see cref="RestartAsync"/> recovers from
/// it. The server's stdout and stderr go to the test log (as nats.net does for its server fixtures), and the last
/// lines are kept for failure messages (<see cref="RecentOutput"/>).
/// </summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    /// <summary>How long a start may take until <c>/readyz</c> answers 200 (storage open, recovery finished).</summary>
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How long a graceful stop (SIGTERM) may take.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Set to 1 to keep each test's data folder for a post-mortem (its path is in the test log).</summary>
    public const string KeepDataVariable = "GATEWAY_E2E_KEEP_DATA";

    private static readonly TimeSpan ReadyPollInterval = TimeSpan.FromMilliseconds(50);
    private const int KeptOutputLines = 200;
    private const int BindAttempts = 3;

    private readonly ITestOutputHelper _output;
    private readonly ConcurrentQueue<string> _recent = new();
    private Process? _process;
    private HttpClient? _http;
    private int _generation;

    private readonly IReadOnlyDictionary<string, string> _settings;
    private readonly IReadOnlyList<string> _arguments;
    private readonly IReadOnlyDictionary<string, string> _environment;

    private GatewayProcess(ITestOutputHelper output, string dataPath, IReadOnlyDictionary<string, string>? settings,
        IReadOnlyList<string>? arguments = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        _output = output;
        DataPath = dataPath;
        _settings = settings ?? new Dictionary<string, string>();
        _arguments = arguments ?? [];
        _environment = environment ?? new Dictionary<string, string>();
    }

    /// <summary>Every line the server wrote so far (both streams), for tests that read its logs.</summary>
    public IReadOnlyList<string> AllOutput
    {
        get { lock (_all) return [.. _all]; }
    }

    private readonly List<string> _all = [];

    /// <summary>The server's data folder (<c>Gateway:DataPath</c>), the same across restarts.</summary>
    public string DataPath { get; }

    /// <summary>Where the running server listens, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress => Http.BaseAddress!;

    /// <summary>
    /// The HTTP client of the current server process (a new one after each restart; the old one stays usable until
    /// then, so that requests in flight at a kill fail as a real client's would).
    /// </summary>
    public HttpClient Http => _http ?? throw new InvalidOperationException("The server is not running.");

    /// <summary>The API of the current server process, on the <c>default</c> vhost.</summary>
    public GatewayApi Api { get; private set; } = null!;

    /// <summary>The AMQP port of the server, the same across restarts (AMQP clients recover to it).</summary>
    public int AmqpPort { get; private set; }

    /// <summary>The server's process id, for the log.</summary>
    public int ProcessId => _process?.Id ?? 0;

    /// <summary>
    /// Starts a server on a fresh data folder and waits until it is ready. <paramref name="settings"/> are configuration
    /// keys (<c>Gateway:Limits:MaxRequestBodyBytes</c>) with their values, given to every start of this server;
    /// <paramref name="arguments"/> are added to its command line and <paramref name="environment"/> to its environment
    /// (e.g. <c>Logging__Console__FormatterName</c>).
    /// </summary>
    public static async Task<GatewayProcess> StartAsync(ITestOutputHelper output, IReadOnlyDictionary<string, string>? settings = null,
        IReadOnlyList<string>? arguments = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var dataPath = Directory.CreateTempSubdirectory("gateway-e2e-").FullName;
        var gateway = new GatewayProcess(output, dataPath, settings, arguments, environment);
        try
        {
            await gateway.LaunchAsync();
            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the server again on the same data folder (on a new port) and waits until it is ready.</summary>
    public async Task RestartAsync()
    {
        if (_process is { HasExited: false })
            throw new InvalidOperationException("The server is still running: Kill() or StopAsync() it first.");
        await LaunchAsync();
    }

    /// <summary>
    /// kill -9: the whole process tree dies at once (SIGKILL on Linux), with no chance to flush or close anything.
    /// Returns when the process has exited. Synchronous on purpose: nothing runs between the decision and the kill.
    /// </summary>
    public void Kill()
    {
        var process = _process ?? throw new InvalidOperationException("The server was never started.");
        Log($"[harness] SIGKILL pid {process.Id}");
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Exited on its own meanwhile.
        }
        if (!process.WaitForExit(ReadyTimeout))
            throw new TimeoutException($"pid {process.Id} did not exit within {ReadyTimeout.TotalSeconds:0} s after SIGKILL.{Environment.NewLine}{RecentOutput()}");
        process.WaitForExit(); // drains the redirected output
        Log($"[harness] pid {process.Id} exited with {process.ExitCode}");
    }

    /// <summary>
    /// A graceful stop: SIGTERM (the host's normal shutdown) on Unix, a kill elsewhere. Returns the exit code; fails when
    /// the server does not exit within <see cref="StopTimeout"/>.
    /// </summary>
    public async Task<int> StopAsync()
    {
        var process = _process ?? throw new InvalidOperationException("The server was never started.");
        if (!OperatingSystem.IsWindows())
        {
            Log($"[harness] SIGTERM pid {process.Id}");
            if (NativeMethods.kill(process.Id, NativeMethods.SIGTERM) != 0)
                throw new InvalidOperationException($"kill({process.Id}, SIGTERM) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
        else
        {
            process.Kill(entireProcessTree: true);
        }
        await WaitForExitAsync(process, StopTimeout, "after SIGTERM");
        Log($"[harness] pid {process.Id} exited with {process.ExitCode}");
        return process.ExitCode;
    }

    /// <summary>
    /// The API key every client of this process sends as a bearer token (null: none, for authentication off); setting
    /// it also applies to the current client.
    /// </summary>
    public string? ApiKey
    {
        get => _apiKey;
        set
        {
            _apiKey = value;
            if (_http is not null)
                _http.DefaultRequestHeaders.Authorization = value is null ? null : new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", value);
        }
    }

    private string? _apiKey;

    /// <summary>The server's last output lines (both streams, oldest first), for failure messages.</summary>
    public string RecentOutput(int lines = 60)
    {
        var all = _recent.ToArray();
        var tail = all.Skip(Math.Max(0, all.Length - lines));
        return "---- last server output ----" + Environment.NewLine + string.Join(Environment.NewLine, tail) +
               Environment.NewLine + "---- end of server output ----";
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync().WaitAsync(ReadyTimeout);
                }
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException)
            {
                Log($"[harness] could not stop pid {process.Id}: {e.Message}");
            }
            process.Dispose();
            _process = null;
        }
        DropClient();
        if (Environment.GetEnvironmentVariable(KeepDataVariable) == "1")
        {
            Log($"[harness] kept the data folder {DataPath} ({KeepDataVariable}=1)");
            return;
        }
        try
        {
            Directory.Delete(DataPath, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log($"[harness] could not delete {DataPath}: {e.Message}");
        }
    }

    private async Task LaunchAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = FreeLoopbackPort();
            var process = Spawn(port);
            try
            {
                await WaitUntilReadyAsync(process, port);
                return;
            }
            catch (ServerExitedException) when (attempt < BindAttempts && RecentOutput().Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                // Another process took the port between our probe and the server's bind: try another one.
                Log($"[harness] port {port} was taken meanwhile; retrying on another port");
            }
        }
    }

    /// <summary>
    /// Environment settings for the server, applied at every (re)start. Authentication is off unless a test turns it on
    /// (the security tests do, with a bootstrap key); the crash and restart tests are about durability.
    /// </summary>
    public Dictionary<string, string> Settings { get; } = new(StringComparer.Ordinal) { ["Gateway__Auth__Enabled"] = "false" };

    private Process Spawn(int port)
    {
        var generation = ++_generation;
        var url = $"http://127.0.0.1:{port}";
        var info = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = ServerBuild.RepositoryRoot,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
        };
        info.ArgumentList.Add(ServerBuild.ServerDll);
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add(url);
        foreach (var argument in _arguments) info.ArgumentList.Add(argument);
        info.Environment["Gateway__DataPath"] = DataPath;
        // Kept across restarts, so that AMQP clients recover to the same address (the HTTP port changes).
        if (AmqpPort == 0) AmqpPort = FreeLoopbackPort();
        info.Environment["Gateway__Amqp__Port"] = AmqpPort.ToString(CultureInfo.InvariantCulture);
        foreach (var (name, value) in Settings) info.Environment[name] = value;
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        // "{port}" in a setting is the port of this start (e.g. Kestrel:Endpoints:Http:Url, which replaces --urls).
        foreach (var (key, value) in _settings)
            info.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value.Replace("{port}", port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        ConfigureEnvironment(info);
        foreach (var (name, value) in _environment) info.Environment[name] = value;

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { Keep(e.Data); Log($"[gateway#{generation} out] {e.Data}"); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Keep(e.Data); Log($"[gateway#{generation} err] {e.Data}"); } };
        if (!process.Start()) throw new InvalidOperationException($"Could not start {info.FileName} {ServerBuild.ServerDll}.");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Log($"[harness] started gateway#{generation} pid {process.Id} on {url}, data {DataPath}");

        _process?.Dispose();
        _process = process;
        DropClient();
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) })
        {
            BaseAddress = new Uri(url + "/"),
            Timeout = TimeSpan.FromSeconds(30),
        };
        ApiKey = _apiKey;
        Api = new GatewayApi(_http);
        return process;
    }

    private void Keep(string line)
    {
        lock (_all) _all.Add(line);
    }

    private static void ConfigureEnvironment(ProcessStartInfo info)
    {
        // Servers run in parallel, and RabbitMQ may hold AMQP's 5672: a free port unless the start chose one.
        info.Environment.TryAdd("Gateway__Amqp__Port", "0");
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        // ASPNETCORE_* would win over DOTNET_* for the web host; the runner's own settings must not leak in.
        info.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        info.Environment.Remove("ASPNETCORE_URLS");
        info.Environment.Remove("URLS");
    }

    /// <summary>What a server run that was expected to end on its own did: its exit code and its two streams.</summary>
    public sealed record Exited(int ExitCode, string StandardOutput, string StandardError);

    /// <summary>
    /// Runs the built server (or one of its commands) with <paramref name="arguments"/> and <paramref name="environment"/>
    /// until it exits on its own, within <paramref name="timeout"/> (default <see cref="ReadyTimeout"/>): for start-up
    /// failures and the health probe.
    /// </summary>
    public static async Task<Exited> RunToExitAsync(IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string>? environment = null,
        TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = ServerBuild.RepositoryRoot,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add(ServerBuild.ServerDll);
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        ConfigureEnvironment(info);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        using var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the server.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout ?? ReadyTimeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The server did not exit on its own within {(timeout ?? ReadyTimeout).TotalSeconds:0} s: {await stdout}{await stderr}");
        }
        return new Exited(process.ExitCode, await stdout, await stderr);
    }

    private async Task WaitUntilReadyAsync(Process process, int port)
    {
        var started = Stopwatch.StartNew();
        using var timer = new PeriodicTimer(ReadyPollInterval);
        string last = "no answer yet";
        while (true)
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync(); // drains the output
                throw new ServerExitedException(
                    $"The server exited with {process.ExitCode} before it was ready on port {port}.{Environment.NewLine}{RecentOutput()}");
            }
            using (var probe = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
            {
                try
                {
                    using var response = await Http.GetAsync("readyz", probe.Token);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        Log($"[harness] ready after {started.ElapsedMilliseconds} ms");
                        return;
                    }
                    last = $"/readyz answered {(int)response.StatusCode}";
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    last = e.Message; // not listening yet
                }
            }
            if (started.Elapsed > ReadyTimeout)
                throw new TimeoutException(
                    $"The server was not ready within {ReadyTimeout.TotalSeconds:0} s (last: {last}).{Environment.NewLine}{RecentOutput()}");
            await timer.WaitForNextTickAsync();
        }
    }

    private async Task WaitForExitAsync(Process process, TimeSpan timeout, string when)
    {
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"pid {process.Id} did not exit within {timeout.TotalSeconds:0} s {when}.{Environment.NewLine}{RecentOutput()}");
        }
    }

    private void DropClient()
    {
        _http?.Dispose();
        _http = null;
    }

    private void Log(string line)
    {
        _recent.Enqueue(line);
        while (_recent.Count > KeptOutputLines) _recent.TryDequeue(out _);
        try
        {
            _output.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // The test has finished (xunit refuses output then); the line stays in RecentOutput.
        }
    }

    internal static int FreeLoopbackPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    // `dotnet test` tells its children which host runs them; fall back to the one on PATH.
    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    private sealed class ServerExitedException(string message) : Exception(message);

    private static class NativeMethods
    {
        public const int SIGTERM = 15;

        [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054 // a blittable two-int call; LibraryImport would only add unsafe code
        public static extern int kill(int pid, int sig);
#pragma warning restore SYSLIB1054
    }
}

/// <summary>Where the built server is: <c>src/Gateway.Server/bin/&lt;Configuration&gt;/net10.0/Gateway.Server.dll</c>.</summary>
internal static class ServerBuild
{
    private static readonly Lazy<string> Root = new(FindRepositoryRoot);
    private static readonly Lazy<string> Dll = new(FindServerDll);

    /// <summary>The folder holding <c>Gateway.sln</c> (the server runs there, reading <c>appsettings.json</c>).</summary>
    public static string RepositoryRoot => Root.Value;

    /// <summary>The server assembly of the same configuration as this test assembly.</summary>
    public static string ServerDll => Dll.Value;

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"No Gateway.sln above {AppContext.BaseDirectory}.");
    }

    private static string FindServerDll()
    {
        var configuration = typeof(ServerBuild).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "Configuration")?.Value ?? "Debug";
        var dll = Path.Combine(RepositoryRoot, "src", "Gateway.Server", "bin", configuration, "net10.0", "Gateway.Server.dll");
        if (!File.Exists(dll))
            throw new InvalidOperationException($"No server build at {dll}: build Gateway.sln ({configuration}) first.");
        return dll;
    }
}
