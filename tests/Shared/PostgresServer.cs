using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit;

namespace Gateway.Testing;

/// <summary>
/// A private PostgreSQL server for the tests: <c>initdb</c> in a fresh temporary folder, then <c>pg_ctl start</c> on a
/// free 127.0.0.1 port with its socket in that folder, trust authentication for the superuser <see cref="User"/>, and
/// fsync off (nothing here must survive a power cut). Nothing is shared with a system cluster.
/// </summary>
/// <remarks>
/// <para>
/// PostgreSQL refuses to run as root: when the tests run as root (CI), every PostgreSQL command runs through
/// <c>runuser -u postgres --</c> (Debian's packages create that user; <c>nobody</c> when they did not), and the folder
/// is given to that user. The binaries are found in the newest <c>/usr/lib/postgresql/&lt;version&gt;/bin</c>, else
/// through <c>initdb</c> on the PATH; without either, starting fails with a message saying what to install.
/// </para>
/// <para>
/// <see cref="CreateDatabaseAsync"/> makes a database per test class (through <c>psql</c>, so that this file needs
/// nothing but the BCL and xunit). The server never outlives the test process: <see cref="Dispose"/> stops it
/// (<c>pg_ctl stop -m immediate</c>) and deletes the folder, so does a ProcessExit handler, and a watchdog shell whose
/// stdin is a pipe from this process does it when the process dies without running either (kill -9, a timeout).
/// </para>
/// </remarks>
public sealed class PostgresServer : IDisposable
{
    /// <summary>The superuser made by initdb, trusted on 127.0.0.1 (no password).</summary>
    public const string User = "gateway";

    /// <summary>How long initdb, the start and each command may take: generous, CI machines are busy.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static readonly ConcurrentDictionary<PostgresServer, byte> Live = new();
    private static int _exitHookInstalled;

    private readonly string _bin;
    private readonly string? _runAs;
    private readonly Process _watchdog;
    private int _stopped;

    /// <summary>Initializes and starts the server; throws with initdb's or the server's log when it cannot.</summary>
    public PostgresServer()
    {
        _bin = FindBinaries();
        _runAs = IsRoot() ? RunAsUser() : null;
        Folder = Path.Combine(Path.GetTempPath(), "gateway-postgres-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Folder);
        if (_runAs is not null) Run("chown", null, "-R", _runAs, Folder);
        Port = FreePort();
        InstallExitHook();
        Live[this] = 0;
        // Stops the server when this process goes away in any way: the pipe to its stdin closes, cat returns.
        _watchdog = Start("sh", null, true, "-c", $"cat >/dev/null; {Command(Path.Combine(_bin, "pg_ctl"))} -D '{DataFolder}' stop -m immediate >/dev/null 2>&1; rm -rf '{Folder}'");
        try
        {
            Run(Path.Combine(_bin, "initdb"), _runAs, "-D", DataFolder, "-U", User, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync");
            // -w: pg_ctl returns once the server reports ready in its pid file, i.e. accepts connections.
            Run(Path.Combine(_bin, "pg_ctl"), _runAs, untilEndOfOutput: false, "-D", DataFolder, "-l", LogFile, "-w", "-t", ((int)Timeout.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
                "-o", $"-p {Port} -k '{Folder}' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", "start");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The temporary folder (data in <c>data</c>, the server's log in <c>postgres.log</c>, its socket).</summary>
    public string Folder { get; }

    /// <summary>The port on 127.0.0.1.</summary>
    public int Port { get; }

    private string DataFolder => Path.Combine(Folder, "data");

    private string LogFile => Path.Combine(Folder, "postgres.log");

    /// <summary>An Npgsql connection string to <paramref name="database"/> on this server.</summary>
    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Username={User};Database={database}";

    /// <summary>Creates an empty database with a unique name (prefixed by <paramref name="prefix"/>) and returns its connection string.</summary>
    public Task<string> CreateDatabaseAsync(string prefix = "t") => Task.Run(() =>
    {
        var name = $"{prefix}_{Guid.NewGuid():N}".ToLowerInvariant();
        Psql("postgres", $"CREATE DATABASE \"{name}\"");
        return ConnectionString(name);
    });

    /// <summary>Runs SQL on <paramref name="database"/> with psql and returns its unaligned, tuples-only output.</summary>
    public string Psql(string database, string sql) =>
        Run(Path.Combine(_bin, "psql"), null, "-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-U", User, "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql).Trim();

    /// <summary>The tail of the server's log, for failure messages.</summary>
    public string LogTail()
    {
        try
        {
            var lines = File.ReadAllLines(LogFile);
            return string.Join('\n', lines.Skip(Math.Max(0, lines.Length - 30)));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    /// <summary>Stops the server at once (no checkpoint: the data is thrown away) and deletes the folder.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1) return;
        Live.TryRemove(this, out _);
        try
        {
            if (File.Exists(Path.Combine(DataFolder, "postmaster.pid")))
                Run(Path.Combine(_bin, "pg_ctl"), _runAs, "-D", DataFolder, "stop", "-m", "immediate");
        }
        catch (InvalidOperationException)
        {
            // Already gone: nothing to stop.
        }
        try
        {
            _watchdog.Kill(entireProcessTree: true);
            _watchdog.Dispose();
        }
        catch (InvalidOperationException)
        {
            // Exited already.
        }
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    // ---------------------------------------------------------------- processes

    private static bool IsRoot()
    {
        try
        {
            return File.ReadAllLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal)) is { } uid
                   && uid.Split('\t', StringSplitOptions.RemoveEmptyEntries) is [_, "0", ..];
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string RunAsUser()
    {
        if (!File.Exists("/usr/sbin/runuser") && !File.Exists("/sbin/runuser") && !File.Exists("/usr/bin/runuser"))
            throw new InvalidOperationException("The tests run as root, and PostgreSQL refuses to: runuser (util-linux) is needed to run it as another user.");
        var passwd = File.Exists("/etc/passwd") ? File.ReadAllLines("/etc/passwd") : [];
        return passwd.Any(l => l.StartsWith("postgres:", StringComparison.Ordinal)) ? "postgres" : "nobody";
    }

    private static string FindBinaries()
    {
        const string root = "/usr/lib/postgresql";
        if (Directory.Exists(root))
        {
            var newest = Directory.GetDirectories(root)
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), out var v) ? v : -1))
                .Where(d => File.Exists(Path.Combine(d.Dir, "bin", "initdb")) && File.Exists(Path.Combine(d.Dir, "bin", "pg_ctl")))
                .OrderByDescending(d => d.Version).FirstOrDefault();
            if (newest.Dir is not null) return Path.Combine(newest.Dir, "bin");
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var initdb = Path.Combine(dir, "initdb");
            if (!File.Exists(initdb)) continue;
            var target = new FileInfo(initdb).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? initdb;
            var bin = Path.GetDirectoryName(target)!;
            if (File.Exists(Path.Combine(bin, "pg_ctl")) && File.Exists(Path.Combine(bin, "psql"))) return bin;
        }
        throw new InvalidOperationException(
            "PostgreSQL's server binaries (initdb, pg_ctl, psql, pg_isready) were not found in /usr/lib/postgresql/<version>/bin or on the PATH. " +
            "Install them (Debian: apt-get install -y postgresql) to run the PostgreSQL tests.");
    }

    private string Command(string program) => _runAs is null ? $"'{program}'" : $"runuser -u {_runAs} -- '{program}'";

    private static Process Start(string program, string? runAs, bool redirectStdin, params string[] arguments)
    {
        var info = new ProcessStartInfo(runAs is null ? program : "runuser")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectStdin,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        if (runAs is not null)
        {
            info.ArgumentList.Add("-u");
            info.ArgumentList.Add(runAs);
            info.ArgumentList.Add("--");
            info.ArgumentList.Add(program);
        }
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        // initdb and psql read the locale and PGxxx settings of the environment: none of the caller's apply here.
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal)).ToList()) info.Environment.Remove(name);
        info.Environment["LC_ALL"] = "C";
        return Process.Start(info) ?? throw new InvalidOperationException($"Could not start {program}.");
    }

    /// <summary>Runs a program to its end (as <paramref name="runAs"/> when given) and returns its output; throws with its output when it fails.</summary>
    private static string Run(string program, string? runAs, params string[] arguments) => Run(program, runAs, untilEndOfOutput: true, arguments);

    // untilEndOfOutput: wait for the output's end too (the timed WaitForExit does not wait for the last callbacks, and
    // psql's one line of answer was lost that way); false for pg_ctl start, whose server may keep the pipes open.
    private static string Run(string program, string? runAs, bool untilEndOfOutput, params string[] arguments)
    {
        using var process = Start(program, runAs, false, arguments);
        // pg_ctl start leaves the server holding the pipes it inherited: read until exit, not until end of stream.
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(program)} {string.Join(' ', arguments)} did not finish within {Timeout.TotalSeconds} s.");
        }
        if (untilEndOfOutput) process.WaitForExit();
        else process.WaitForExit(TimeSpan.FromSeconds(1)); // lets the output callbacks finish when nothing else holds the pipes
        string text;
        lock (output) text = output.ToString();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{Path.GetFileName(program)} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{text}");
        return text;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void InstallExitHook()
    {
        if (Interlocked.Exchange(ref _exitHookInstalled, 1) == 1) return;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var server in Live.Keys) server.Dispose();
        };
    }
}

/// <summary>One PostgreSQL server for every test class of the <c>postgres</c> collection; each class makes its own database.</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}
