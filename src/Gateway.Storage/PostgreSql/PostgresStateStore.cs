using Gateway.Broker.Durability;
using Gateway.Storage.Topology;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Primitives;
using Npgsql;

namespace Gateway.Storage.PostgreSql;

/// <summary>
/// Users, API keys, permissions and webhooks in one PostgreSQL database shared by every gateway node
/// (<c>Gateway:Storage:Provider=PostgreSql</c>), through <see cref="PostgresGatewayDbContext"/> (migrated at open).
/// </summary>
/// <remarks>
/// <para>
/// How a node learns that another changed users, keys or permissions: PostgreSQL's LISTEN/NOTIFY, not a poll. The
/// migration puts a statement trigger on <c>users</c>, <c>api_keys</c> and <c>permissions</c> that calls
/// <c>pg_notify('gateway_security', table)</c>, so every writer (another node, an operator's SQL) announces its change,
/// delivered to every listening node when the transaction commits: a revoked key is refused everywhere within
/// milliseconds, not within a poll period, and an idle cluster costs no queries. A poll of a change counter would need
/// an extra table written by every change and, at the one second the issue allows, a query per node per second.
/// </para>
/// <para>
/// Notifications reach only a connected listener: when its connection drops (server restart, network), changes may be
/// missed. The listener reconnects with backoff (0.25 s doubling to 5 s) and then fires <see cref="WatchSecurity"/> once,
/// so that readers load everything again; while it is down, <see cref="StateProblem"/> says so (and /readyz with it).
/// The connection sends a keepalive every 5 s, so that a server that vanished without closing it is noticed.
/// </para>
/// </remarks>
public sealed partial class PostgresStateStore : IStateStore, IAsyncDisposable
{
    /// <summary>The notification channel the migration's triggers notify.</summary>
    public const string SecurityChannel = "gateway_security";

    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LongestRetry = TimeSpan.FromSeconds(5);

    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgresClaims _claims;
    private readonly string _listenerConnectionString;
    private readonly DbContextOptions<PostgresGatewayDbContext> _dbOptions;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _watchLock = new();
    private CancellationTokenSource _watch = new();
    private volatile string? _listenerProblem;
    private Task _listening = Task.CompletedTask;

    private PostgresStateStore(string connectionString, ILogger logger)
    {
        _logger = logger;
        _dataSource = NpgsqlDataSource.Create(connectionString);
        _listenerConnectionString = new NpgsqlConnectionStringBuilder(connectionString) { KeepAlive = 5, Pooling = false }.ToString();
        _claims = new PostgresClaims(_listenerConnectionString);
        _dbOptions = new DbContextOptionsBuilder<PostgresGatewayDbContext>().UseNpgsql(_dataSource).Options;
    }

    /// <summary>
    /// Connects, applies the migrations this version has and the database lacks (nodes starting together take turns:
    /// EF Core holds a database lock while migrating), and starts listening for other nodes' changes. Throws
    /// <see cref="StorageException"/> when the database cannot be reached or migrated.
    /// </summary>
    public static PostgresStateStore Open(string connectionString, ILogger? logger = null)
    {
        if (ConnectionStringProblem(connectionString) is { } problem) throw new StorageException(problem);
        var store = new PostgresStateStore(connectionString, logger ?? NullLogger.Instance);
        try
        {
            using (var db = store.CreateContext()) db.Database.Migrate();
            // Listening before anyone reads: a change committed after the first read is then never missed.
            var listener = store.Listen();
            store._listening = Task.Run(() => store.ListenLoopAsync(listener));
            return store;
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            store._dataSource.Dispose();
            throw new StorageException("Cannot open the PostgreSQL database of Gateway:Storage:ConnectionString: " + (e.InnerException ?? e).Message, e);
        }
    }

    /// <summary>Null when <paramref name="connectionString"/> is an Npgsql connection string naming a host; else what is wrong (naming the setting).</summary>
    public static string? ConnectionStringProblem(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
            return "Gateway:Storage:ConnectionString is required when Gateway:Storage:Provider is PostgreSql.";
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(connectionString);
            return string.IsNullOrWhiteSpace(builder.Host)
                ? "Gateway:Storage:ConnectionString must name the PostgreSQL server (Host=…)."
                : null;
        }
        catch (ArgumentException e)
        {
            return "Gateway:Storage:ConnectionString is not a valid PostgreSQL connection string: " + e.Message;
        }
    }

    /// <inheritdoc />
    public bool IsShared => true;

    /// <inheritdoc />
    public string? StateProblem => _stopping.IsCancellationRequested ? "the store is closed" : _listenerProblem;

    private PostgresGatewayDbContext CreateContext() => new(_dbOptions);

    /// <inheritdoc />
    public void Write(Action<GatewayDbContext> change)
    {
        try
        {
            using var db = CreateContext();
            using var transaction = db.Database.BeginTransaction();
            change(db);
            db.SaveChanges();
            transaction.Commit();
        }
        catch (Exception e) when (e is DbUpdateException or NpgsqlException or InvalidOperationException or TimeoutException)
        {
            throw new StorageException("The change could not be stored: " + (e.InnerException ?? e).Message, e);
        }
    }

    /// <inheritdoc />
    public T Read<T>(Func<GatewayDbContext, T> query)
    {
        try
        {
            using var db = CreateContext();
            db.ChangeTracker.QueryTrackingBehavior = QueryTrackingBehavior.NoTracking;
            return query(db);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            throw new StorageException("The shared state could not be read: " + (e.InnerException ?? e).Message, e);
        }
    }

    /// <inheritdoc />
    public IChangeToken WatchSecurity()
    {
        lock (_watchLock) return new CancellationChangeToken(_watch.Token);
    }

    // Fired on the thread pool: the watchers reload from this database, which must not hold up the listener's loop.
    private void SecurityChanged()
    {
        CancellationTokenSource fired;
        lock (_watchLock)
        {
            fired = _watch;
            _watch = new CancellationTokenSource();
        }
        ThreadPool.QueueUserWorkItem(static source => source.Cancel(), fired, preferLocal: false);
    }

    /// <inheritdoc />
    public void SaveWebhook(StoredWebhook webhook) => Write(db =>
    {
        var row = db.Webhooks.Find(webhook.Vhost, webhook.Queue, webhook.Name);
        if (row is null)
        {
            row = new WebhookRow { Vhost = webhook.Vhost, Queue = webhook.Queue, Name = webhook.Name, Definition = webhook.Definition };
            db.Webhooks.Add(row);
        }
        row.Definition = webhook.Definition;
        row.DisabledReason = webhook.DisabledReason;
        row.DisabledAt = webhook.DisabledAt?.UtcTicks;
    });

    /// <inheritdoc />
    public void DeleteWebhook(string vhost, string queue, string name) =>
        Write(db => db.Webhooks.Where(w => w.Vhost == vhost && w.Queue == queue && w.Name == name).ExecuteDelete());

    /// <inheritdoc />
    public IReadOnlyList<StoredWebhook> LoadWebhooks() => Read(db => db.Webhooks.AsEnumerable()
        .Select(w => new StoredWebhook(w.Vhost, w.Queue, w.Name, w.Definition, w.DisabledReason,
            w.DisabledAt is { } at ? new DateTimeOffset(at, TimeSpan.Zero) : null))
        .ToList());

    // ---------------------------------------------------------------- claims (PostgresClaims: advisory locks)

    /// <summary>The advisory lock key of a claim (PostgreSQL's <c>pg_locks</c> shows its low 32 bits as <c>objid</c>).</summary>
    public static long ClaimKey(string name) => PostgresClaims.KeyOf(name);

    /// <inheritdoc />
    public bool TryClaim(string name) => _claims.TryClaim(name);

    /// <inheritdoc />
    public void Release(string name) => _claims.Release(name);

    /// <inheritdoc />
    public bool ClaimsHeld() => _claims.Held();

    // ---------------------------------------------------------------- listening

    private NpgsqlConnection Listen()
    {
        var connection = new NpgsqlConnection(_listenerConnectionString);
        try
        {
            connection.Open();
            connection.Notification += (_, _) => SecurityChanged();
            using var command = new NpgsqlCommand($"LISTEN {SecurityChannel}", connection);
            command.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private async Task ListenLoopAsync(NpgsqlConnection? connection)
    {
        var retry = FirstRetry;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                if (connection is null)
                {
                    connection = Listen();
                    _listenerProblem = null;
                    retry = FirstRetry;
                    LogListening();
                    SecurityChanged(); // whatever changed while no one listened
                }
                // Notifications are raised (Notification above) while this waits; it returns after each one.
                await connection.WaitAsync(_stopping.Token);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // Any failure of the connection (NpgsqlException, an IOException inside it, a timeout): the loop must
                // outlive it, so every exception but the stop's is a reason to reconnect.
                _listenerProblem = "not listening for changes on PostgreSQL (reconnecting): " + e.Message;
                LogListenerLost(e, retry.TotalMilliseconds);
                if (connection is not null) await connection.DisposeAsync();
                connection = null;
                try
                {
                    await Task.Delay(retry, _stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                retry = retry * 2 < LongestRetry ? retry * 2 : LongestRetry;
            }
        }
        if (connection is not null) await connection.DisposeAsync();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _listening;
        _claims.Dispose();
        await _dataSource.DisposeAsync();
    }

    [LoggerMessage(EventId = 3100, Level = LogLevel.Warning, Message = "Lost the PostgreSQL listener of shared-state changes; reconnecting in {Milliseconds} ms")]
    private partial void LogListenerLost(Exception exception, double milliseconds);

    [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Listening for shared-state changes on PostgreSQL again; reloading users and keys")]
    private partial void LogListening();
}
