namespace Gateway.Storage;

/// <summary>How SQLite makes commits durable (<c>PRAGMA synchronous</c>).</summary>
public enum SynchronousMode
{
    /// <summary>
    /// fsync on every commit: a confirmed message survives power loss. The default.
    /// </summary>
    Full,
    /// <summary>
    /// fsync only at WAL checkpoints: a confirmed message survives a crash of the process (kill -9) but the last
    /// commits before a power loss or kernel crash may be lost. Faster on disks with slow fsync.
    /// </summary>
    Normal,
}

/// <summary>Where users, API keys, permissions and webhooks live (<c>Gateway:Storage:Provider</c>).</summary>
public enum StorageProvider
{
    /// <summary>The embedded SQLite file in <see cref="StorageOptions.DataPath"/>, beside the topology: one node. The default.</summary>
    Sqlite,
    /// <summary>
    /// A PostgreSQL database (<see cref="StorageOptions.ConnectionString"/>) shared by every gateway node, so that all see
    /// the same users and keys. Topology and the embedded engine's message journal stay in SQLite.
    /// </summary>
    PostgreSql,
}

/// <summary>Storage settings, bound from <c>Gateway</c> (<c>Gateway:DataPath</c>, <c>Gateway:Storage:*</c>).</summary>
public sealed class StorageOptions
{
    /// <summary>The folder holding the database file. The default is <c>data</c> under the content root.</summary>
    public string DataPath { get; set; } = "data";

    /// <summary>The database file name inside <see cref="DataPath"/>. The default is <c>gateway.db</c>.</summary>
    public string FileName { get; set; } = "gateway.db";

    /// <summary>Commit durability; see <see cref="SynchronousMode"/>. The default is <see cref="SynchronousMode.Full"/>.</summary>
    public SynchronousMode Synchronous { get; set; } = SynchronousMode.Full;

    /// <summary>
    /// How long a write waits for a lock held by another connection before failing, in milliseconds, rounded up to
    /// whole seconds (the granularity of Microsoft.Data.Sqlite's retry). The default is 5000.
    /// </summary>
    public int BusyTimeoutMilliseconds { get; set; } = 5000;

    /// <summary>
    /// Where users, API keys, permissions and webhooks are kept: <see cref="StorageProvider.Sqlite"/> (the default, the
    /// embedded file) or <see cref="StorageProvider.PostgreSql"/> (shared by every gateway node; needs
    /// <see cref="ConnectionString"/>).
    /// </summary>
    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;

    /// <summary>
    /// The PostgreSQL connection string (Npgsql's form: <c>Host=db;Database=gateway;Username=gateway;Password=…</c>),
    /// required when <see cref="Provider"/> is <see cref="StorageProvider.PostgreSql"/>. No default.
    /// </summary>
    public string? ConnectionString { get; set; }
}
