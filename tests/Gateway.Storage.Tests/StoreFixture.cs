using System.Text;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using Microsoft.Data.Sqlite;

namespace Gateway.Storage.Tests;

/// <summary>A temporary data folder with a real SQLite file; reopen it to simulate a restart.</summary>
public sealed class TempStore : IAsyncDisposable
{
    private SqliteStore? _store;

    public TempStore(SynchronousMode mode = SynchronousMode.Normal)
    {
        Options = new StorageOptions { DataPath = Path.Combine(Path.GetTempPath(), "gateway-storage-tests", Guid.NewGuid().ToString("N")), Synchronous = mode };
    }

    public StorageOptions Options { get; }

    /// <summary>A store that gives up on a locked file quickly (see <see cref="WriteLock"/>).</summary>
    public static TempStore Lockable() => new() { Options = { BusyTimeoutMilliseconds = 200 } };

    /// <summary>The database file (it exists once the store has been opened).</summary>
    public string DatabasePath => Path.GetFullPath(Path.Combine(Options.DataPath, Options.FileName));

    public SqliteStore Store => _store ??= SqliteStore.Open(Options);

    /// <summary>
    /// A broker over the store, recovered. With a <paramref name="clock"/>, its queue timers (TTL, delays, x-expires) run
    /// only when the test calls <see cref="MessageBroker.RunDueTimers"/>; without, on the system clock.
    /// </summary>
    public MessageBroker Broker(out RecoveryProgress recovered, TimeProvider? clock = null)
    {
        var options = clock is null
            ? new BrokerOptions { LeaseScanInterval = null }
            : new BrokerOptions { LeaseScanInterval = null, TimeProvider = clock, AutomaticTimers = false };
        var broker = new MessageBroker(options, Store);
        recovered = broker.Recover();
        return broker;
    }

    public MessageBroker Broker(TimeProvider? clock = null) => Broker(out _, clock);

    /// <summary>Closes the store (as a clean stop) so the next <see cref="Store"/> reopens the file.</summary>
    public async Task RestartAsync()
    {
        if (_store is not null) await _store.DisposeAsync();
        _store = null;
    }

    /// <summary>
    /// Waits until every journal operation enqueued so far has committed: the single writer commits in order, so a
    /// no-op removal (queue id 0 is never handed out) enqueued now commits after all of them.
    /// </summary>
    public Task FlushAsync()
    {
        var ticket = new JournalTicket();
        ticket.Add();
        Store.Journal.Remove(new Message("", "", MessageProperties.Empty, ReadOnlyMemory<byte>.Empty), 0, 0, lastReference: false, ticket);
        ticket.Release();
        return ticket.Committed;
    }

    /// <summary>A separate connection to the database file, as another process would open it.</summary>
    public SqliteConnection OpenFile()
    {
        Directory.CreateDirectory(Options.DataPath);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    /// <summary>Rows of <paramref name="table"/> in the file (optionally filtered by a SQL condition).</summary>
    public long Count(string table, string? where = null) =>
        Scalar($"SELECT COUNT(*) FROM \"{table}\"" + (where is null ? "" : " WHERE " + where));

    /// <summary>The single integer a query returns, read from the file on a separate connection.</summary>
    public long Scalar(string sql)
    {
        using var connection = OpenFile();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>Runs SQL against the file on a separate connection.</summary>
    public void Execute(string sql)
    {
        using var connection = OpenFile();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public async ValueTask DisposeAsync()
    {
        await RestartAsync();
        try { Directory.Delete(Options.DataPath, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Holds the database's write lock from another connection until disposed: every write of the store fails.</summary>
public sealed class WriteLock : IDisposable
{
    private readonly SqliteConnection _connection;

    public WriteLock(TempStore temp)
    {
        _connection = temp.OpenFile();
        Run("BEGIN EXCLUSIVE");
    }

    private void Run(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        Run("ROLLBACK");
        _connection.Dispose();
    }
}

/// <summary>Topology for the tests.</summary>
internal static class TestTopology
{
    /// <summary>A durable fanout exchange bound to new durable queues.</summary>
    public static MessageQueue[] DeclareFanout(VirtualHost vhost, string exchange, params string[] queues)
    {
        vhost.DeclareExchange(new ExchangeDefinition(exchange, ExchangeType.Fanout));
        return queues.Select(name =>
        {
            var queue = vhost.DeclareQueue(new QueueDefinition(name)).Queue;
            vhost.Bind(new Binding(exchange, name, BindingDestinationType.Queue, "", null));
            return queue;
        }).ToArray();
    }
}

/// <summary>Messages for the tests.</summary>
internal static class TestMessages
{
    public static readonly MessageProperties Persistent = new() { DeliveryMode = 2 };

    /// <summary>A message published to the default exchange with <paramref name="routingKey"/>.</summary>
    public static Message Text(string text, string routingKey = "q", MessageProperties? properties = null) =>
        new("", routingKey, properties ?? Persistent, Encoding.UTF8.GetBytes(text));

    /// <summary>The body as text.</summary>
    public static string Text(this Message message) => Encoding.UTF8.GetString(message.Body.Span);
}
