using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace Gateway.Testing;

/// <summary>
/// A private RabbitMQ cluster (Debian's <c>rabbitmq-server</c> 3.10) on 127.0.0.1 for the tests, after the recipe of
/// ../shared/anchors/rabbitmq-cluster (cluster.sh): each node is <c>/usr/lib/rabbitmq/bin/rabbitmq-server</c> under
/// <c>setsid</c> with its own environment, configuration, plugins file, data, logs and pid file; the first node boots,
/// then the others boot in parallel and join it through peer discovery (<c>classic_config</c>).
/// </summary>
/// <remarks>
/// <para>
/// Nothing is shared with a system node or another run: everything lives in a fresh temporary folder (the Erlang
/// cookie in a private HOME, an empty RABBITMQ_CONF_ENV_FILE so that /etc/rabbitmq is never read), the node names are
/// unique per run (<c>t&lt;random&gt;a@localhost</c>), every port (AMQP, management and Erlang distribution of each
/// node) is a free one on 127.0.0.1 below the ephemeral range (so that no client connection takes a killed node's port
/// before it restarts), and the nodes register with their own <c>epmd</c> on a free port (ERL_EPMD_PORT) instead of
/// the host's 4369, which may belong to a system node. The CLI tools are not used: the management API answers every
/// question the tests ask (nodes running, a queue's leader, members and online members).
/// </para>
/// <para>
/// Node indexes are 0-based: node <c>i</c> is <see cref="AmqpUris"/>[i], <see cref="ManagementUris"/>[i] and
/// <see cref="NodeNames"/>[i]. Each node's stdout goes to <c>&lt;folder&gt;/&lt;node&gt;/log/stdout.log</c>, its log
/// to <c>&lt;folder&gt;/&lt;node&gt;/log/&lt;name&gt;.log</c>; a failure's exception carries the tail of both.
/// </para>
/// <para>
/// The nodes never outlive the test process: <see cref="StopAllAsync"/> (and Dispose) kill them with SIGKILL and delete
/// the folder, so does a ProcessExit handler, and a watchdog shell whose stdin is a pipe from this process does it when
/// the process dies without running either (kill -9, a test-session timeout).
/// </para>
/// </remarks>
public sealed class RabbitMqCluster : IAsyncDisposable, IDisposable
{
    /// <summary>The Debian package's server script, called directly (not the /usr/sbin wrapper, which does <c>su rabbitmq</c>).</summary>
    public const string ServerScript = "/usr/lib/rabbitmq/bin/rabbitmq-server";

    /// <summary>How long a wait (a node booting, the cluster forming, a leader being elected) may take by default:
    /// generous, because CI machines are busier than the one the ~10 s start-up was measured on.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(120);

    private static readonly ConcurrentDictionary<RabbitMqCluster, byte> Live = new();
    private static int _exitHookInstalled;

    private readonly string _id;
    private readonly Node[] _nodes;
    private readonly int _epmdPort;
    private readonly TimeSpan _timeout;
    private readonly Action<string> _log;
    private readonly HttpClient _http;
    private readonly ConcurrentQueue<string> _events = new();
    private Process? _epmd;
    private Process? _watchdog;
    private int _stopped;

    private RabbitMqCluster(string folder, string id, int nodes, int epmdPort, TimeSpan timeout, Action<string>? log)
    {
        Folder = folder;
        _id = id;
        _epmdPort = epmdPort;
        _timeout = timeout;
        _log = log ?? (_ => { });
        _http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        _http.DefaultRequestHeaders.Authorization =
            new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.ASCII.GetBytes("guest:guest")));
        var used = new HashSet<int> { epmdPort };
        _nodes = Enumerable.Range(0, nodes).Select(i => new Node(
            Index: i,
            Name: $"t{id}{(char)('a' + i)}@localhost",
            Directory: Path.Combine(folder, ((char)('a' + i)).ToString()),
            AmqpPort: FreePort(used),
            ManagementPort: FreePort(used),
            DistributionPort: FreePort(used))).ToArray();
    }

    /// <summary>The folder holding every node's configuration, data and logs (deleted by <see cref="StopAllAsync"/>).</summary>
    public string Folder { get; }

    /// <summary>How many nodes the cluster has.</summary>
    public int Count => _nodes.Length;

    /// <summary>Each node's AMQP endpoint, <c>amqp://guest:guest@127.0.0.1:port/</c> (vhost <c>/</c>).</summary>
    public IReadOnlyList<Uri> AmqpUris => _nodes.Select(n => new Uri($"amqp://guest:guest@127.0.0.1:{n.AmqpPort}/")).ToArray();

    /// <summary>Each node's management API root, <c>http://127.0.0.1:port/</c> (user guest/guest).</summary>
    public IReadOnlyList<Uri> ManagementUris => _nodes.Select(n => new Uri($"http://127.0.0.1:{n.ManagementPort}/")).ToArray();

    /// <summary>Each node's Erlang node name, as the management API reports it (<c>t&lt;random&gt;a@localhost</c>).</summary>
    public IReadOnlyList<string> NodeNames => _nodes.Select(n => n.Name).ToArray();

    /// <summary>The index of the node with this Erlang name (as in a queue's <c>leader</c>), or -1.</summary>
    public int IndexOf(string nodeName) => Array.FindIndex(_nodes, n => n.Name == nodeName);

    /// <summary>
    /// Starts a fresh cluster of <paramref name="nodes"/> nodes and returns once every node's management API answers
    /// and the first node lists all of them running. Takes ~10–15 s on an idle 2-core machine.
    /// </summary>
    /// <param name="nodes">How many nodes (1 or more).</param>
    /// <param name="log">Progress lines (e.g. an xunit message sink or test output); none by default.</param>
    /// <param name="timeout">The bound of each wait; <see cref="DefaultTimeout"/> by default.</param>
    /// <exception cref="InvalidOperationException">rabbitmq-server is not installed, or the cluster did not form (the
    /// message carries the tail of each node's logs).</exception>
    public static async Task<RabbitMqCluster> StartAsync(int nodes = 3, Action<string>? log = null, TimeSpan? timeout = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nodes, 1);
        if (!File.Exists(ServerScript))
            throw new InvalidOperationException(
                $"{ServerScript} is missing: the RabbitMQ cluster tests need Debian's rabbitmq-server package " +
                "(as root: apt-get install rabbitmq-server; .ci/test.sh installs it when it runs as root).");
        var epmd = FindEpmd() ?? throw new InvalidOperationException(
            "epmd (Erlang's port mapper) is missing: install Debian's rabbitmq-server package, which brings erlang-base.");

        var id = Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
        var folder = Path.Combine(Path.GetTempPath(), $"rmqc-{id}");
        Directory.CreateDirectory(folder);
        var cluster = new RabbitMqCluster(folder, id, nodes, FreePort([]), timeout ?? DefaultTimeout, log);
        Live[cluster] = 0;
        InstallExitHook();
        var started = Stopwatch.StartNew();
        try
        {
            cluster.WriteFiles();
            cluster.StartWatchdog();
            await cluster.StartEpmdAsync(epmd);
            cluster.Launch(0);
            await cluster.WaitBootedAsync(0);
            cluster.Log($"{cluster._nodes[0].Name} booted after {started.Elapsed.TotalSeconds:F1} s");
            for (var i = 1; i < nodes; i++) cluster.Launch(i);
            await Task.WhenAll(Enumerable.Range(1, nodes - 1).Select(cluster.WaitBootedAsync));
            await cluster.WaitForRunningNodesAsync(nodes);
            cluster.Log($"UP: {nodes} nodes running after {started.Elapsed.TotalSeconds:F1} s");
            return cluster;
        }
        catch
        {
            await cluster.StopAllAsync();
            throw;
        }
    }

    /// <summary>Whether node <paramref name="i"/>'s beam.smp is alive.</summary>
    public bool IsRunning(int i) => BeamPid(i) is not null;

    /// <summary>
    /// The live beam.smp of node <paramref name="i"/>: the PID in its pid file, if that process is a beam.smp whose
    /// environment names this node (PIDs get reused), as cluster.sh checks it; null otherwise.
    /// </summary>
    public int? BeamPid(int i) => BeamPid(_nodes[i]);

    /// <summary>
    /// kill -9 of node <paramref name="i"/>'s beam.smp; returns once the process is gone.
    /// </summary>
    /// <exception cref="InvalidOperationException">The node is not running.</exception>
    public async Task KillAsync(int i)
    {
        var node = _nodes[i];
        var pid = BeamPid(node) ?? throw new InvalidOperationException($"Node {i} ({node.Name}) is not running.");
        Kill9(pid);
        Log($"kill -9 {node.Name} beam pid {pid}");
        await WaitUntilAsync(() => !ProcessAlive(pid), $"beam pid {pid} of {node.Name} to exit", node);
        // The launcher (the rabbitmq-server shell) exits with its beam; reap it before a restart.
        if (node.Launcher is { } launcher)
            await WaitUntilAsync(() => launcher.HasExited, $"the rabbitmq-server script of {node.Name} to exit", node);
    }

    /// <summary>
    /// Starts node <paramref name="i"/> again with its data (it rejoins by itself: its schema lists the cluster) and
    /// returns once its management API answers and another running node lists every live node running.
    /// </summary>
    public async Task StartNodeAsync(int i)
    {
        var started = Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            Launch(i);
            try
            {
                await WaitBootedAsync(i);
                break;
            }
            catch (NodeBootFailedException e) when (attempt < BootAttempts && e.Transient)
            {
                // RabbitMQ 3.10 compares feature flags with every peer it reaches while booting; a peer that is itself
                // still booting (every node restarted at once after a kill -9) can answer with a set it has not loaded
                // yet, and the node stops with incompatible_feature_flags. Its data is intact: relaunch it, as a
                // supervisor (systemd's Restart=on-failure, a Kubernetes pod) would.
                Log($"{_nodes[i].Name} stopped at boot ({e.Reason}); relaunching it (attempt {attempt + 1} of {BootAttempts})");
            }
        }
        await WaitForRunningNodesAsync(_nodes.Count(n => BeamPid(n) is not null), from: i);
        Log($"{_nodes[i].Name} started and running in the cluster after {started.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>Starts every node that is not running (e.g. after a test that failed between a kill and its restart).</summary>
    public async Task EnsureAllRunningAsync()
    {
        for (var i = 0; i < _nodes.Length; i++)
            if (!IsRunning(i)) await StartNodeAsync(i);
    }

    /// <summary>The cluster's nodes and whether each runs, as node <paramref name="from"/> (by default the first running
    /// one) sees them (<c>GET /api/nodes</c>).</summary>
    public async Task<IReadOnlyList<(string Name, bool Running)>> GetNodesAsync(int? from = null)
    {
        using var doc = await GetJsonAsync("api/nodes", from);
        return doc.RootElement.EnumerateArray()
            .Select(n => (n.GetProperty("name").GetString()!, n.TryGetProperty("running", out var r) && r.GetBoolean()))
            .ToArray();
    }

    /// <summary>A queue's leader, members and online members (<c>GET /api/queues/{vhost}/{queue}</c> on node
    /// <paramref name="from"/>, by default the first running one); for a classic queue, the node it lives on.</summary>
    public async Task<QueueReplicas> GetQueueLeaderAsync(string vhost, string queue, int? from = null)
    {
        using var doc = await GetJsonAsync($"api/queues/{Uri.EscapeDataString(vhost)}/{Uri.EscapeDataString(queue)}", from);
        var q = doc.RootElement;
        static string[] Names(JsonElement e, string name) =>
            e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray().Select(x => x.GetString()!).ToArray() : [];
        var leader = q.TryGetProperty("leader", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString()
            : q.TryGetProperty("node", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        return new QueueReplicas(leader, Names(q, "members"), Names(q, "online"));
    }

    /// <summary>
    /// Waits until the queue has a leader that is online and satisfies <paramref name="condition"/> (for instance
    /// "not on the node just killed", or "the restarted node is online again"), and returns what the API said then.
    /// </summary>
    public async Task<QueueReplicas> WaitForQueueLeaderAsync(string vhost, string queue, Func<QueueReplicas, bool>? condition = null, TimeSpan? timeout = null)
    {
        QueueReplicas? last = null;
        await WaitUntilAsync(async () =>
        {
            try { last = await GetQueueLeaderAsync(vhost, queue); }
            catch (HttpRequestException) { return false; }    // 404 before the declaration is visible, or a node going away
            catch (TaskCanceledException) { return false; }
            return last.Leader is { } leader && last.Online.Contains(leader) && (condition?.Invoke(last) ?? true);
        }, $"a leader of queue '{queue}' (last seen: {last})", node: null, timeout);
        return last!;
    }

    /// <summary>Waits until node <paramref name="from"/> (by default the first running one) lists at least
    /// <paramref name="count"/> nodes running.</summary>
    public Task WaitForRunningNodesAsync(int count, int? from = null) =>
        WaitUntilAsync(async () =>
        {
            try { return (await GetNodesAsync(from)).Count(n => n.Running) >= count; }
            catch (HttpRequestException) { return false; }
            catch (TaskCanceledException) { return false; }
        }, $"{count} running nodes", from is { } f ? _nodes[f] : null);

    /// <summary>
    /// Closes every AMQP connection whose client-provided name is <paramref name="connectionName"/>, as RabbitMQ does
    /// when the node holding them goes away, once the management API lists at least one; returns how many it closed.
    /// </summary>
    public async Task<int> CloseConnectionsAsync(string connectionName, TimeSpan? timeout = null)
    {
        List<string> names = [];
        await WaitUntilAsync(async () =>
        {
            using var doc = await GetJsonAsync("api/connections", null);
            names = doc.RootElement.EnumerateArray()
                .Where(c => c.TryGetProperty("client_properties", out var p) && p.TryGetProperty("connection_name", out var n) && n.GetString() == connectionName)
                .Select(c => c.GetProperty("name").GetString()!).ToList();
            return names.Count > 0;
        }, $"connections named '{connectionName}'", node: null, timeout);
        var from = Array.FindIndex(_nodes, n => BeamPid(n) is not null);
        foreach (var name in names)
        {
            using var request = new HttpRequestMessage(HttpMethod.Delete, new Uri(ManagementUris[from], $"api/connections/{Uri.EscapeDataString(name)}"));
            request.Headers.Add("X-Reason", "closed by a test");
            using var response = await _http.SendAsync(request);
            if (response.StatusCode != HttpStatusCode.NotFound) response.EnsureSuccessStatusCode();
        }
        return names.Count;
    }

    /// <summary>
    /// Waits until every node has written a durable queue to its own disk: the queue's record in Mnesia's files and, for
    /// a quorum queue, its Ra server in Ra's directory (<c>quorum/&lt;node&gt;/names.dets</c>). RabbitMQ 3.10 writes both
    /// lazily, up to a few seconds after the declaration; killing every node before that loses the queue.
    /// </summary>
    public Task WaitForQueueOnDiskAsync(string queue, bool quorum, TimeSpan? timeout = null)
    {
        var name = Encoding.UTF8.GetBytes(queue);
        bool OnDisk(Node node)
        {
            var mnesia = Path.Combine(node.Directory, "mnesia", node.Name);
            var record = new[] { "LATEST.LOG", "rabbit_durable_queue.DCD", "rabbit_durable_queue.DCL" }
                .Any(file => FileContains(Path.Combine(mnesia, file), name));
            return record && (!quorum || FileContains(Path.Combine(mnesia, "quorum", node.Name, "names.dets"), name));
        }
        return WaitUntilAsync(() => _nodes.All(OnDisk), $"queue '{queue}' on every node's disk", node: null, timeout);
    }

    // Read while the node may be writing it; a file not there yet does not contain anything.
    private static bool FileContains(string path, byte[] bytes)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var copy = new MemoryStream();
            file.CopyTo(copy);
            return copy.GetBuffer().AsSpan(0, (int)copy.Length).IndexOf(bytes) >= 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>kill -9 of every node and the cluster's epmd, then deletes the folder. Safe to call more than once.</summary>
    public Task StopAllAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return Task.CompletedTask;
        Live.TryRemove(this, out _);
        KillEverything();
        _http.Dispose();
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => new(StopAllAsync());

    public void Dispose() => StopAllAsync().GetAwaiter().GetResult();

    /// <summary>The last <paramref name="lines"/> lines of node <paramref name="i"/>'s stdout and log file.</summary>
    public string LogTail(int i, int lines = 30) => LogTail(_nodes[i], lines);

    // ---- setup --------------------------------------------------------------------------------------------------

    private sealed record Node(int Index, string Name, string Directory, int AmqpPort, int ManagementPort, int DistributionPort)
    {
        public Process? Launcher { get; set; }
        public string PidFile => Path.Combine(Directory, "node.pid");
        public string StdoutLog => Path.Combine(Directory, "log", "stdout.log");
        public string LogFile => Path.Combine(Directory, "log", Name + ".log");
    }

    private string CookieHome => Path.Combine(Folder, "home");

    private void WriteFiles()
    {
        Directory.CreateDirectory(CookieHome);
        var cookie = Path.Combine(CookieHome, ".erlang.cookie");
        // 20 upper-case letters, like the cookies Erlang generates; Erlang refuses a cookie others can read.
        File.WriteAllText(cookie, new string(RandomNumberGenerator.GetItems<char>("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 20)));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(cookie, UnixFileMode.UserRead);
        // Empty: do NOT read /etc/rabbitmq/rabbitmq-env.conf (it may set NODENAME=rabbit@localhost).
        File.WriteAllText(Path.Combine(Folder, "rabbitmq-env.conf"), "");
        foreach (var node in _nodes)
        {
            Directory.CreateDirectory(Path.Combine(node.Directory, "mnesia"));
            Directory.CreateDirectory(Path.Combine(node.Directory, "log"));
            var conf = new StringBuilder($"""
                listeners.tcp.default = 127.0.0.1:{node.AmqpPort}
                management.tcp.ip = 127.0.0.1
                management.tcp.port = {node.ManagementPort}
                loopback_users = none
                # Several nodes share one machine: the default (0.4 x RAM per node) would over-commit.
                vm_memory_high_watermark.absolute = 1GB
                # RabbitMQ's own default: a CI disk with little room left must not block the publishers.
                disk_free_limit.absolute = 50MB
                log.file.level = info
                log.console = false
                collect_statistics_interval = 500

                """);
            if (node.Index > 0)
                // Join the first node at first boot (peer discovery) instead of stop_app / join_cluster / start_app.
                conf.Append($"""
                    cluster_formation.peer_discovery_backend = classic_config
                    cluster_formation.classic_config.nodes.1 = {_nodes[0].Name}

                    """);
            File.WriteAllText(Path.Combine(node.Directory, "rabbitmq.conf"), conf.ToString());
            File.WriteAllText(Path.Combine(node.Directory, "enabled_plugins"), "[rabbitmq_management].\n");
        }
    }

    /// <summary>The environment of node <paramref name="node"/> (cluster.sh's node_env, plus the private epmd).</summary>
    private IEnumerable<(string Key, string Value)> NodeEnvironment(Node node) =>
    [
        ("HOME", CookieHome),
        ("RABBITMQ_CONF_ENV_FILE", Path.Combine(Folder, "rabbitmq-env.conf")),
        ("RABBITMQ_NODENAME", node.Name),
        ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1"),
        ("RABBITMQ_NODE_PORT", node.AmqpPort.ToString()),
        ("RABBITMQ_DIST_PORT", node.DistributionPort.ToString()),
        ("RABBITMQ_CONFIG_FILE", Path.Combine(node.Directory, "rabbitmq.conf")),
        ("RABBITMQ_ADVANCED_CONFIG_FILE", Path.Combine(node.Directory, "advanced.config")),   // absent on purpose
        ("RABBITMQ_ENABLED_PLUGINS_FILE", Path.Combine(node.Directory, "enabled_plugins")),
        ("RABBITMQ_MNESIA_BASE", Path.Combine(node.Directory, "mnesia")),
        ("RABBITMQ_LOG_BASE", Path.Combine(node.Directory, "log")),
        ("RABBITMQ_PID_FILE", node.PidFile),
        ("ERL_EPMD_PORT", _epmdPort.ToString()),
        // Distribution on loopback only; never start an epmd of its own (the cluster's is already up).
        ("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false"),
    ];

    private async Task StartEpmdAsync(string epmd)
    {
        var start = new ProcessStartInfo(epmd)
        {
            ArgumentList = { "-port", _epmdPort.ToString(), "-address", "127.0.0.1" },
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        var stderr = new StringBuilder();
        _epmd = Process.Start(start)!;
        _epmd.ErrorDataReceived += (_, e) => { if (e.Data is { } line) lock (stderr) stderr.AppendLine(line); };
        _epmd.OutputDataReceived += (_, e) => { };
        _epmd.BeginErrorReadLine();
        _epmd.BeginOutputReadLine();
        File.WriteAllText(Path.Combine(Folder, "epmd.pid"), _epmd.Id.ToString());
        await WaitUntilAsync(() =>
        {
            if (_epmd.HasExited) throw new InvalidOperationException($"epmd on port {_epmdPort} exited: {stderr}");
            try
            {
                using var probe = new TcpClient();
                probe.Connect(IPAddress.Loopback, _epmdPort);
                return true;
            }
            catch (SocketException) { return false; }
        }, $"epmd on port {_epmdPort}", node: null);
    }

    /// <summary>
    /// A shell that reads its stdin (a pipe from this process) and, once it ends — this process exited, however it
    /// died — kills every process of the cluster's nodes and its epmd (its PID checked), then deletes the folder.
    /// </summary>
    private void StartWatchdog()
    {
        // Every process whose environment names a node of this cluster (RABBITMQ_NODENAME=t<id>…): the beams, their
        // launch scripts and helpers, a node still booting before it wrote its pid file. Then the cluster's epmd.
        const string script = """
            exec >/dev/null 2>&1
            trap '' HUP INT TERM
            read -r _ || true
            for round in 1 2 3 4 5; do
              for e in /proc/[0-9]*/environ; do
                grep -qz "^RABBITMQ_NODENAME=t$2" "$e" 2>/dev/null || continue
                p=${e#/proc/}; kill -9 "${p%/environ}" 2>/dev/null
              done
              sleep 0.2
            done
            if [ -s "$1/epmd.pid" ]; then
              p=$(tr -dc '0-9' < "$1/epmd.pid")
              [ -n "$p" ] && [ "$(cat /proc/$p/comm 2>/dev/null)" = epmd ] && kill -9 "$p"
            fi
            rm -rf "$1"
            """;
        // setsid -f: detached (its parent is init), so that a runner killing the test process's tree (a session
        // timeout, a hang dump) does not kill the watchdog with it; the pipe of its stdin is inherited all the same.
        var start = new ProcessStartInfo("setsid")
        {
            ArgumentList = { "-f", "/bin/sh", "-c", script, "rabbitmq-cluster-watchdog", Folder, _id },
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        _watchdog = Process.Start(start)!;
    }

    private void Launch(int i)
    {
        var node = _nodes[i];
        if (BeamPid(node) is { } running) throw new InvalidOperationException($"Node {i} ({node.Name}) is already running (pid {running}).");
        foreach (var port in new[] { node.AmqpPort, node.ManagementPort, node.DistributionPort })
            if (!PortFree(port)) throw new InvalidOperationException($"Port {port} of node {i} ({node.Name}) is already in use.");
        File.Delete(node.PidFile);
        node.Launcher?.Dispose();
        // setsid: its own session, so a ^C to the test run's process group does not reach it. The redirections are
        // the shell's, before exec: no pipe of this process is held by the node (or by anything it starts).
        var start = new ProcessStartInfo("/bin/sh")
        {
            ArgumentList = { "-c", "exec setsid \"$1\" >> \"$2\" 2>&1 < /dev/null", "rabbitmq-launch", ServerScript, node.StdoutLog },
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("RABBITMQ_", StringComparison.Ordinal) || k.StartsWith("ERL_", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(key);
        foreach (var (key, value) in NodeEnvironment(node)) start.Environment[key] = value;
        node.Launcher = Process.Start(start)!;
        Log($"launched {node.Name} (AMQP {node.AmqpPort}, management {node.ManagementPort}, distribution {node.DistributionPort})");
    }

    /// <summary>Waits until node i's management API answers (the last step of its boot, after it joined the cluster).</summary>
    private Task WaitBootedAsync(int i)
    {
        var node = _nodes[i];
        return WaitUntilAsync(async () =>
        {
            if (node.Launcher is { HasExited: true } launcher)
            {
                var reason = TransientBootFailures.FirstOrDefault(LogTail(node, 200).Contains);
                throw new NodeBootFailedException(Failure($"{node.Name} exited with code {launcher.ExitCode} while booting", node).Message, reason);
            }
            try
            {
                using var response = await _http.GetAsync(new Uri(ManagementUris[i], "api/overview"));
                return response.IsSuccessStatusCode && BeamPid(node) is not null;
            }
            catch (HttpRequestException) { return false; }
            catch (TaskCanceledException) { return false; }
        }, $"{node.Name} to boot", node);
    }

    /// <summary>How many times <see cref="StartNodeAsync"/> launches a node that stops at boot for a transient reason.</summary>
    private const int BootAttempts = 3;

    /// <summary>Boot failures caused by a peer's state at that moment, not by the node's own data or configuration.</summary>
    private static readonly string[] TransientBootFailures = ["incompatible_feature_flags"];

    /// <summary>A node's process exited before it finished booting.</summary>
    private sealed class NodeBootFailedException(string message, string? reason) : InvalidOperationException(message)
    {
        /// <summary>The transient cause found in the node's logs; null when it is none of them.</summary>
        public string? Reason { get; } = reason;

        public bool Transient => Reason is not null;
    }

    // ---- management API -----------------------------------------------------------------------------------------

    private async Task<JsonDocument> GetJsonAsync(string path, int? from)
    {
        var i = from ?? Array.FindIndex(_nodes, n => BeamPid(n) is not null);
        if (i < 0) throw new InvalidOperationException("No node of the cluster is running.");
        using var response = await _http.GetAsync(new Uri(ManagementUris[i], path));
        response.EnsureSuccessStatusCode();
        return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
    }

    // ---- waiting and failures -----------------------------------------------------------------------------------

    private Task WaitUntilAsync(Func<bool> condition, string what, Node? node, TimeSpan? timeout = null) =>
        WaitUntilAsync(() => Task.FromResult(condition()), what, node, timeout);

    private async Task WaitUntilAsync(Func<Task<bool>> condition, string what, Node? node, TimeSpan? timeout = null)
    {
        var limit = timeout ?? _timeout;
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > limit) throw Failure($"Timed out after {limit.TotalSeconds:F0} s waiting for {what}", node);
            await Task.Delay(100);
        }
    }

    private InvalidOperationException Failure(string message, Node? node)
    {
        var text = new StringBuilder(message).Append(" (RabbitMQ cluster in ").Append(Folder).AppendLine(").");
        text.AppendLine("Fixture log:").AppendJoin('\n', _events).AppendLine();
        foreach (var n in node is null ? _nodes : [node])
            text.AppendLine(LogTail(n, 30));
        return new InvalidOperationException(text.ToString());
    }

    private static string LogTail(Node node, int lines)
    {
        var text = new StringBuilder();
        foreach (var file in new[] { node.StdoutLog, node.LogFile })
        {
            text.Append("--- tail of ").Append(file).AppendLine(" ---");
            try
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                var all = new StreamReader(stream).ReadToEnd().Split('\n');
                text.AppendJoin('\n', all.TakeLast(lines)).AppendLine();
            }
            catch (IOException e) { text.AppendLine($"({e.Message})"); }
        }
        return text.ToString();
    }

    private void Log(string line)
    {
        var stamped = $"{DateTime.Now:HH:mm:ss.fff} [rabbitmq-cluster {_id}] {line}";
        _events.Enqueue(stamped);
        try { _log(stamped); } catch (InvalidOperationException) { }   // a test output helper after its test ended
    }

    // ---- processes and ports ------------------------------------------------------------------------------------

    private static int? BeamPid(Node node)
    {
        try
        {
            if (!File.Exists(node.PidFile)) return null;
            var digits = new string(File.ReadAllText(node.PidFile).Where(char.IsAsciiDigit).ToArray());
            if (!int.TryParse(digits, out var pid)) return null;
            if (File.ReadAllText($"/proc/{pid}/comm").Trim() != "beam.smp") return null;
            var environment = File.ReadAllText($"/proc/{pid}/environ").Split('\0');
            return environment.Contains($"RABBITMQ_NODENAME={node.Name}") && ProcessAlive(pid) ? pid : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>The live processes whose environment names a node of this cluster (the beams, their launch scripts,
    /// their helpers), found through /proc.</summary>
    private List<int> ClusterProcesses()
    {
        var marker = Encoding.ASCII.GetBytes($"\0RABBITMQ_NODENAME=t{_id}");
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                var environment = File.ReadAllBytes(Path.Combine(dir, "environ"));
                if ((environment.AsSpan().StartsWith(marker.AsSpan(1)) || environment.AsSpan().IndexOf(marker) >= 0) && ProcessAlive(pid))
                    found.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    /// <summary>Alive and not a zombie (a killed beam stays one until its parent, the launch shell, reaps it).</summary>
    private static bool ProcessAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..];
            return state.Length > 0 && state[0] is not ('Z' or 'X');
        }
        catch (IOException) { return false; }
    }

    private static void Kill9(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();   // SIGKILL on Unix
        }
        catch (ArgumentException) { }          // already gone
        catch (InvalidOperationException) { }
    }

    // SIGKILL is delivered by the kernel at once; the process is gone (or a zombie, with no command line) soon after.
    private static void WaitForExit(int pid) => SpinWait.SpinUntil(() =>
    {
        try { return File.ReadAllBytes($"/proc/{pid}/cmdline").Length == 0; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return true; }
    }, TimeSpan.FromSeconds(2));

    private void KillEverything()
    {
        // Not only the pid files' beams: a node still booting has not written its pid file yet.
        var clock = Stopwatch.StartNew();
        for (var pids = ClusterProcesses(); pids.Count > 0 && clock.Elapsed < TimeSpan.FromSeconds(10); pids = ClusterProcesses())
        {
            foreach (var pid in pids) Kill9(pid);
            foreach (var pid in pids) WaitForExit(pid); // then look again: a booting node may have started another meanwhile
        }
        foreach (var node in _nodes) { node.Launcher?.WaitForExit(2000); node.Launcher?.Dispose(); }
        if (_epmd is { } epmd) { try { epmd.Kill(); epmd.WaitForExit(2000); } catch (InvalidOperationException) { } epmd.Dispose(); }
        // Every process that wrote there has exited: one delete, and a second for a file that a dying process's last
        // write created while the first walked the tree.
        for (var attempt = 0; attempt < 2 && Directory.Exists(Folder); attempt++)
        {
            try { Directory.Delete(Folder, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        // Ending its stdin lets the watchdog run its (now empty) cleanup and exit.
        if (_watchdog is { } watchdog) { try { watchdog.StandardInput.Close(); } catch (IOException) { } watchdog.Dispose(); }
    }

    private static void InstallExitHook()
    {
        if (Interlocked.Exchange(ref _exitHookInstalled, 1) != 0) return;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var cluster in Live.Keys) cluster.StopAllAsync().GetAwaiter().GetResult();
        };
    }

    private static string? FindEpmd() =>
        new[] { "/usr/bin/epmd", "/usr/lib/erlang/bin/epmd" }.FirstOrDefault(File.Exists)
        ?? Directory.EnumerateDirectories("/usr/lib/erlang", "erts-*").Select(d => Path.Combine(d, "bin", "epmd")).FirstOrDefault(File.Exists);

    /// <summary>
    /// A free port on 127.0.0.1 below the ephemeral range (so that no outgoing connection takes it while a node is
    /// down between a kill and its restart), never one of the ports a system node or the CLI tools use.
    /// </summary>
    private static int FreePort(HashSet<int> taken)
    {
        var ephemeralStart = 32768;
        try { ephemeralStart = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0]); }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException) { }
        int[] reserved = [4369, 5672, 5671, 15672, 15671, 25672, 15692, 61613, 1883];
        var low = 20000;
        var high = Math.Max(low + 1000, Math.Min(ephemeralStart, 32768));
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var port = Random.Shared.Next(low, high);
            if (reserved.Contains(port) || port is >= 35672 and <= 35682 || taken.Contains(port) || !PortFree(port)) continue;
            taken.Add(port);
            return port;
        }
        throw new InvalidOperationException($"No free port on 127.0.0.1 between {low} and {high}.");
    }

    private static bool PortFree(int port)
    {
        try
        {
            using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException) { return false; }
    }
}

/// <summary>Where a queue lives: its leader (a classic queue's node), its members and the members online, as Erlang
/// node names (<see cref="RabbitMqCluster.IndexOf"/> turns one into a node index).</summary>
public sealed record QueueReplicas(string? Leader, IReadOnlyList<string> Members, IReadOnlyList<string> Online)
{
    public override string ToString() => $"leader {Leader ?? "none"}, members [{string.Join(", ", Members)}], online [{string.Join(", ", Online)}]";
}

/// <summary>
/// One <see cref="RabbitMqCluster"/> of 3 nodes for a whole test collection (<c>[Collection(RabbitMqClusterFixture.Collection)]</c>):
/// starting one costs ~10 s, so it is never started per test. Tests use unique queue names, and a test that kills a
/// node restarts it (<see cref="RabbitMqCluster.EnsureAllRunningAsync"/> at the start of such a test repairs what an
/// earlier failed one left). Progress lines go to xunit's diagnostic messages.
/// </summary>
public sealed class RabbitMqClusterFixture(IMessageSink diagnostics) : IAsyncLifetime
{
    /// <summary>The collection's name.</summary>
    public const string Collection = "rabbitmq-cluster";

    private RabbitMqCluster? _cluster;

    /// <summary>The running cluster.</summary>
    public RabbitMqCluster Cluster => _cluster ?? throw new InvalidOperationException("The RabbitMQ cluster is not started.");

    /// <summary>How long the cluster took to start.</summary>
    public TimeSpan StartTime { get; private set; }

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        _cluster = await RabbitMqCluster.StartAsync(3, line => diagnostics.OnMessage(new Xunit.Sdk.DiagnosticMessage(line)));
        StartTime = clock.Elapsed;
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null) await _cluster.StopAllAsync();
    }
}

/// <summary>The collection of tests sharing one <see cref="RabbitMqClusterFixture"/>.</summary>
[CollectionDefinition(RabbitMqClusterFixture.Collection)]
public sealed class RabbitMqClusterCollection : ICollectionFixture<RabbitMqClusterFixture>;
