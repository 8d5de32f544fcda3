using System.Diagnostics.Metrics;
using Gateway.Broker.Durability;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using Gateway.Storage.Journal;
using Gateway.Storage.Topology;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Primitives;

namespace Gateway.Storage;

/// <summary>
/// The embedded store: one SQLite database file in WAL mode. Topology goes through EF Core (migrated at open); the
/// message journal through <see cref="JournalWriter"/> on its own connection with prepared statements.
/// </summary>
public sealed class SqliteStore : IBrokerStore, IStateStore, IAsyncDisposable
{
    private readonly SqliteConnection _topologyConnection;
    private readonly SqliteConnection _journalConnection;
    private readonly DbContextOptions<GatewayDbContext> _dbOptions;
    private readonly JournalWriter _journal;
    private readonly Lock _topologyLock = new();

    private SqliteStore(StorageOptions options, ILogger logger, Meter? meter)
    {
        Directory.CreateDirectory(options.DataPath);
        DatabasePath = Path.GetFullPath(Path.Combine(options.DataPath, options.FileName));
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            // Microsoft.Data.Sqlite retries a busy database for the command timeout, in whole seconds.
            DefaultTimeout = Math.Max(1, (options.BusyTimeoutMilliseconds + 999) / 1000),
        }.ToString();
        var synchronous = options.Synchronous == SynchronousMode.Full ? "FULL" : "NORMAL";

        _topologyConnection = Open(connectionString, synchronous, options.BusyTimeoutMilliseconds);
        _dbOptions = new DbContextOptionsBuilder<GatewayDbContext>().UseSqlite(_topologyConnection).Options;
        using (var db = new GatewayDbContext(_dbOptions)) db.Database.Migrate();

        _journalConnection = Open(connectionString, synchronous, options.BusyTimeoutMilliseconds);
        _journal = new JournalWriter(_journalConnection, logger, meter);
    }

    /// <summary>
    /// Opens (creating and migrating when needed) the database in <see cref="StorageOptions.DataPath"/>. Journal commit
    /// metrics go to <paramref name="meter"/> when one is given.
    /// </summary>
    public static SqliteStore Open(StorageOptions options, ILogger? logger = null, Meter? meter = null)
    {
        try
        {
            return new SqliteStore(options, logger ?? NullLogger.Instance, meter);
        }
        catch (SqliteException e)
        {
            throw new StorageException($"Cannot open the database in '{options.DataPath}': {e.Message}", e);
        }
    }

    /// <summary>The database file.</summary>
    public string DatabasePath { get; }

    /// <inheritdoc />
    public IMessageJournal Journal => _journal;

    /// <summary>
    /// Whether the store can take writes: null when its journal writer runs and its last commit succeeded, else why not.
    /// </summary>
    public string? Problem => _disposed ? "the store is closed"
        : !_journal.IsRunning ? "the journal writer has stopped"
        : _journal.LastFailure is { } failure ? "the last journal commit failed: " + failure
        : null;

    private volatile bool _disposed;

    /// <inheritdoc />
    public bool IsShared => false;

    /// <inheritdoc />
    /// <remarks>Only this process writes the file, and it knows its own changes: the token never fires.</remarks>
    public IChangeToken WatchSecurity() => Unchanging;

    private static readonly IChangeToken Unchanging = new CancellationChangeToken(CancellationToken.None);

    /// <inheritdoc />
    /// <remarks>The file's health (journal included) is <see cref="Problem"/>'s; this says only whether it is open.</remarks>
    public string? StateProblem => _disposed ? "the store is closed" : null;

    /// <inheritdoc />
    /// <remarks>One node uses the file: every claim is granted.</remarks>
    public bool TryClaim(string name) => true;

    /// <inheritdoc />
    public void Release(string name)
    {
    }

    /// <inheritdoc />
    public bool ClaimsHeld() => true;

    /// <summary>Journal operations committed so far.</summary>
    public long JournalOperations => _journal.CommittedOperations;

    /// <summary>Journal batches committed so far.</summary>
    public long JournalBatches => _journal.CommittedBatches;

    private static SqliteConnection Open(string connectionString, string synchronous, int busyTimeout)
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        using var pragma = connection.CreateCommand();
        // A larger page cache and WAL (checkpoint every ~40 MB rather than 4 MB) keep checkpoints off the commit path.
        pragma.CommandText = $"PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; PRAGMA busy_timeout={busyTimeout}; " +
                             "PRAGMA foreign_keys=OFF; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=10000; PRAGMA temp_store=MEMORY;";
        pragma.ExecuteNonQuery();
        return connection;
    }

    /// <inheritdoc />
    public void Apply(IReadOnlyList<TopologyChange> changes)
    {
        if (changes.Count == 0) return;
        lock (_topologyLock)
        {
            try
            {
                using var db = new GatewayDbContext(_dbOptions);
                using var transaction = db.Database.BeginTransaction();
                foreach (var change in changes) Stage(db, change);
                db.SaveChanges();
                transaction.Commit();
            }
            catch (Exception e) when (e is DbUpdateException or SqliteException or InvalidOperationException)
            {
                throw new StorageException("The topology change could not be stored: " + (e.InnerException ?? e).Message, e);
            }
        }
    }

    private static void Stage(GatewayDbContext db, TopologyChange change)
    {
        switch (change)
        {
            case TopologyChange.VhostCreated c:
                if (db.Vhosts.Find(c.Vhost) is null) db.Vhosts.Add(new VhostRow { Name = c.Vhost });
                break;
            case TopologyChange.VhostDeleted c:
                db.Webhooks.Where(w => w.Vhost == c.Vhost).ExecuteDelete();
                db.Bindings.Where(b => b.Vhost == c.Vhost).ExecuteDelete();
                db.Queues.Where(q => q.Vhost == c.Vhost).ExecuteDelete();
                db.Exchanges.Where(x => x.Vhost == c.Vhost).ExecuteDelete();
                db.Vhosts.Where(v => v.Name == c.Vhost).ExecuteDelete();
                break;
            case TopologyChange.ExchangeDeclared c:
                Upsert(db.Exchanges, db.Exchanges.Find(c.Vhost, c.Definition.Name), new ExchangeRow
                {
                    Vhost = c.Vhost, Name = c.Definition.Name, Type = c.Definition.Type.ToName(), AutoDelete = c.Definition.AutoDelete,
                    Internal = c.Definition.Internal, Arguments = FieldCodec.EncodeTable(c.Definition.Arguments),
                });
                break;
            case TopologyChange.ExchangeDeleted c:
                if (db.Exchanges.Find(c.Vhost, c.Name) is { } x) db.Exchanges.Remove(x);
                break;
            case TopologyChange.QueueDeclared c:
                Upsert(db.Queues, db.Queues.Find(c.Vhost, c.Definition.Name), new QueueRow
                {
                    Vhost = c.Vhost, Name = c.Definition.Name, QueueId = c.QueueId, Exclusive = c.Definition.Exclusive,
                    AutoDelete = c.Definition.AutoDelete, Arguments = FieldCodec.EncodeTable(c.Definition.Arguments),
                });
                break;
            case TopologyChange.QueueDeleted c:
                db.Webhooks.Where(w => w.Vhost == c.Vhost && w.Queue == c.Name).ExecuteDelete();
                if (db.Queues.Find(c.Vhost, c.Name) is { } q) db.Queues.Remove(q);
                break;
            case TopologyChange.BindingAdded c:
                if (db.Bindings.Find(c.Vhost, c.Binding.Id) is null)
                    db.Bindings.Add(new BindingRow
                    {
                        Vhost = c.Vhost, Id = c.Binding.Id, Source = c.Binding.Source, Destination = c.Binding.Destination,
                        DestinationType = c.Binding.DestinationType == BindingDestinationType.Queue ? "queue" : "exchange",
                        RoutingKey = c.Binding.RoutingKey, Arguments = FieldCodec.EncodeTable(c.Binding.Arguments),
                    });
                break;
            case TopologyChange.BindingRemoved c:
                if (db.Bindings.Find(c.Vhost, c.Binding.Id) is { } b) db.Bindings.Remove(b);
                break;
        }
    }

    private static void Upsert<T>(DbSet<T> set, T? existing, T row) where T : class
    {
        if (existing is not null) set.Remove(existing);
        set.Add(row);
    }

    /// <summary>
    /// Runs <paramref name="change"/> on a fresh context and saves it in one transaction (users, keys, permissions and
    /// other server-side records kept beside the topology). Throws <see cref="StorageException"/> when it cannot be stored.
    /// </summary>
    public void Write(Action<GatewayDbContext> change)
    {
        lock (_topologyLock)
        {
            try
            {
                using var db = new GatewayDbContext(_dbOptions);
                using var transaction = db.Database.BeginTransaction();
                change(db);
                db.SaveChanges();
                transaction.Commit();
            }
            catch (Exception e) when (e is DbUpdateException or SqliteException or InvalidOperationException)
            {
                throw new StorageException("The change could not be stored: " + (e.InnerException ?? e).Message, e);
            }
        }
    }

    /// <summary>Reads with a fresh, non-tracking context.</summary>
    public T Read<T>(Func<GatewayDbContext, T> query)
    {
        lock (_topologyLock)
        {
            using var db = new GatewayDbContext(_dbOptions);
            db.ChangeTracker.QueryTrackingBehavior = QueryTrackingBehavior.NoTracking;
            return query(db);
        }
    }

    /// <inheritdoc />
    public DurableTopology LoadTopology()
    {
        using var db = new GatewayDbContext(_dbOptions);
        var vhosts = db.Vhosts.AsNoTracking().Select(v => v.Name).ToList();
        var exchanges = db.Exchanges.AsNoTracking().AsEnumerable().Select(x =>
        {
            ExchangeTypes.TryParse(x.Type, out var type);
            return (x.Vhost, new ExchangeDefinition(x.Name, type, true, x.AutoDelete, x.Internal, FieldCodec.DecodeTable(x.Arguments)));
        }).ToList();
        var queues = db.Queues.AsNoTracking().AsEnumerable()
            .Select(q => (q.Vhost, new QueueDefinition(q.Name, true, q.Exclusive, q.AutoDelete, FieldCodec.DecodeTable(q.Arguments)), q.QueueId))
            .ToList();
        var bindings = db.Bindings.AsNoTracking().AsEnumerable()
            .Select(b => (b.Vhost, new Binding(b.Source, b.Destination,
                b.DestinationType == "queue" ? BindingDestinationType.Queue : BindingDestinationType.Exchange, b.RoutingKey,
                FieldCodec.DecodeTable(b.Arguments))))
            .ToList();
        return new DurableTopology(vhosts, exchanges, queues, bindings);
    }

    /// <inheritdoc />
    public IEnumerable<RecoveredEntry> ReadMessages()
    {
        using var connection = new SqliteConnection(_journalConnection.ConnectionString);
        connection.Open();
        var shared = new HashSet<long>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT message_id FROM queue_messages WHERE message_id <> 0 GROUP BY message_id HAVING COUNT(*) > 1";
            using var reader = command.ExecuteReader();
            while (reader.Read()) shared.Add(reader.GetInt64(0));
        }
        var sharedMessages = new Dictionary<long, Message>();
        // Exchange names and routing keys repeat across messages: keep one string of each (bounded), not one per message.
        var strings = new Dictionary<string, string>(StringComparer.Ordinal);
        string Intern(string s)
        {
            if (strings.TryGetValue(s, out var known)) return known;
            if (strings.Count < 65_536) strings[s] = s;
            return s;
        }
        using (var command = connection.CreateCommand())
        {
            // Both shapes (JournalWriter): an entry with message_id 0 holds its message inline and has no messages row; an
            // entry of a shared message has NULL inline columns. A shared entry whose row is missing is skipped, as the
            // inner join did before inline entries existed.
            command.CommandText = """
                SELECT e.queue_id, e.sequence, e.delivery_count, e.message_id, COALESCE(m.exchange, e.exchange), COALESCE(m.routing_key, e.routing_key),
                       COALESCE(m.properties, e.properties), COALESCE(m.body, e.body), e.expires_at, e.not_before
                FROM queue_messages e LEFT JOIN messages m ON m.id = e.message_id
                WHERE e.message_id = 0 OR m.id IS NOT NULL
                ORDER BY e.queue_id, e.sequence
                """;
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var messageId = reader.GetInt64(3);
                if (!shared.Contains(messageId) || !sharedMessages.TryGetValue(messageId, out var message))
                {
                    var properties = reader.IsDBNull(6) ? MessageProperties.Empty : FieldCodec.DecodeProperties((byte[])reader.GetValue(6));
                    message = new Message(Intern(reader.GetString(4)), Intern(reader.GetString(5)), properties, (byte[])reader.GetValue(7))
                    {
                        // Inline: stored in this entry, which the writer finds by (queue, sequence); see Message.JournalId.
                        JournalId = messageId == 0 ? -reader.GetInt64(0) : messageId,
                        JournalSequence = messageId == 0 ? reader.GetInt64(1) : 0,
                    };
                    if (messageId != 0 && shared.Contains(messageId)) sharedMessages[messageId] = message;
                }
                yield return new RecoveredEntry(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt32(2), message, reader.GetInt64(8), reader.GetInt64(9));
            }
        }
    }

    /// <summary>How many queue entries the journal holds (for recovery progress).</summary>
    public long CountJournalEntries()
    {
        // Its own connection: the journal's belongs to the writer thread.
        using var connection = new SqliteConnection(_journalConnection.ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM queue_messages";
        return (long)command.ExecuteScalar()!;
    }

    /// <inheritdoc />
    public int RemoveOrphans(IReadOnlyCollection<long> orphanQueueIds)
    {
        using var connection = new SqliteConnection(_journalConnection.ConnectionString);
        connection.Open();
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        // Inline entries (message_id 0) have no messages row: deleting the entry deletes the message.
        command.CommandText = """
            DELETE FROM messages WHERE id IN (SELECT message_id FROM queue_messages WHERE queue_id = $q)
                AND id NOT IN (SELECT message_id FROM queue_messages WHERE queue_id <> $q);
            DELETE FROM queue_messages WHERE queue_id = $q;
            """;
        var queueId = command.Parameters.Add("$q", SqliteType.Integer);
        var removed = 0;
        foreach (var id in orphanQueueIds)
        {
            queueId.Value = id;
            removed += command.ExecuteNonQuery();
        }
        transaction.Commit();
        return removed;
    }

    /// <inheritdoc />
    public void SaveWebhook(StoredWebhook webhook) => WriteTopology(db =>
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
    public void DeleteWebhook(string vhost, string queue, string name) => WriteTopology(db =>
    {
        if (db.Webhooks.Find(vhost, queue, name) is { } row) db.Webhooks.Remove(row);
    });

    /// <inheritdoc />
    public IReadOnlyList<StoredWebhook> LoadWebhooks()
    {
        lock (_topologyLock)
        {
            using var db = new GatewayDbContext(_dbOptions);
            return db.Webhooks.AsNoTracking().AsEnumerable()
                .Select(w => new StoredWebhook(w.Vhost, w.Queue, w.Name, w.Definition, w.DisabledReason,
                    w.DisabledAt is { } at ? new DateTimeOffset(at, TimeSpan.Zero) : null))
                .ToList();
        }
    }

    private void WriteTopology(Action<GatewayDbContext> change)
    {
        lock (_topologyLock)
        {
            try
            {
                using var db = new GatewayDbContext(_dbOptions);
                change(db);
                db.SaveChanges();
            }
            catch (Exception e) when (e is DbUpdateException or SqliteException or InvalidOperationException)
            {
                throw new StorageException("The webhook could not be stored: " + (e.InnerException ?? e).Message, e);
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        await _journal.DisposeAsync();
        _journalConnection.Dispose();
        _topologyConnection.Dispose();
    }
}
