using System.Security.Cryptography;
using System.Text;
using Gateway.Broker.Durability;
using Npgsql;

namespace Gateway.Storage.PostgreSql;

/// <summary>
/// Claims as PostgreSQL session-level advisory locks (<c>pg_try_advisory_lock</c>), all held by one connection of this
/// node: a node that dies loses its connection, PostgreSQL ends the session and releases its locks, and another node's
/// next try gets them. Nothing is written, so claims cost no table and leave nothing behind.
/// </summary>
/// <remarks>
/// A name becomes a 64-bit lock key through the first 8 bytes of its SHA-256 (the same on every node). Locks are
/// reentrant per session in PostgreSQL, so a claim already held is answered from memory and never taken twice: one
/// unlock then releases it. When the connection fails, every claim is forgotten and <see cref="Held"/> answers false once.
/// </remarks>
internal sealed class PostgresClaims(string connectionString) : IDisposable
{
    private readonly Lock _lock = new();
    private readonly HashSet<long> _held = [];
    private NpgsqlConnection? _connection;
    private bool _lost;

    public static long KeyOf(string name) => BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes(name)), 0);

    public bool TryClaim(string name)
    {
        var key = KeyOf(name);
        lock (_lock)
        {
            if (_held.Contains(key)) return true;
            var claimed = Run(connection =>
            {
                using var command = new NpgsqlCommand("SELECT pg_try_advisory_lock($1)", connection) { Parameters = { new() { Value = key } } };
                return (bool)command.ExecuteScalar()!;
            });
            if (claimed) _held.Add(key);
            return claimed;
        }
    }

    public void Release(string name)
    {
        var key = KeyOf(name);
        lock (_lock)
        {
            if (!_held.Remove(key)) return;
            Run(connection =>
            {
                using var command = new NpgsqlCommand("SELECT pg_advisory_unlock($1)", connection) { Parameters = { new() { Value = key } } };
                return command.ExecuteScalar();
            });
        }
    }

    public bool Held()
    {
        lock (_lock)
        {
            if (_held.Count > 0 && !_lost)
            {
                try
                {
                    Run(connection =>
                    {
                        using var command = new NpgsqlCommand("SELECT 1", connection);
                        return command.ExecuteScalar();
                    });
                }
                catch (StorageException)
                {
                    // Lost: reported below.
                }
            }
            var held = !_lost;
            _lost = false;
            return held;
        }
    }

    // Under _lock. A failure drops the connection and every claim with it (the session that held them is gone, or will
    // be when PostgreSQL notices), and the next call opens a new one.
    private T Run<T>(Func<NpgsqlConnection, T> action)
    {
        try
        {
            if (_connection is null)
            {
                _connection = new NpgsqlConnection(connectionString);
                _connection.Open();
            }
            return action(_connection);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException or IOException)
        {
            _connection?.Dispose();
            _connection = null;
            if (_held.Count > 0) _lost = true;
            _held.Clear();
            throw new StorageException("The claims connection to PostgreSQL failed: " + e.Message, e);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _connection?.Dispose(); // the session ends: PostgreSQL releases every claim
            _connection = null;
            _held.Clear();
        }
    }
}
