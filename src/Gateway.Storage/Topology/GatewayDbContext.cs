using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Gateway.Storage.Topology;

/// <summary>
/// Durable topology: vhosts, exchanges, queues, bindings, users, keys, permissions and webhook subscriptions. The SQLite
/// migrations live in Migrations/ and run at start; <see cref="PostgreSql.PostgresGatewayDbContext"/> is the same model
/// with its own migrations for PostgreSQL.
/// </summary>
public class GatewayDbContext : DbContext
{
    public GatewayDbContext(DbContextOptions<GatewayDbContext> options) : base(options) { }

    /// <summary>For a provider-specific context of the same model, whose migrations are its own.</summary>
    protected GatewayDbContext(DbContextOptions options) : base(options) { }

    public DbSet<VhostRow> Vhosts => Set<VhostRow>();
    public DbSet<ExchangeRow> Exchanges => Set<ExchangeRow>();
    public DbSet<QueueRow> Queues => Set<QueueRow>();
    public DbSet<BindingRow> Bindings => Set<BindingRow>();
    public DbSet<UserRow> Users => Set<UserRow>();
    public DbSet<ApiKeyRow> ApiKeys => Set<ApiKeyRow>();
    public DbSet<PermissionRow> Permissions => Set<PermissionRow>();
    public DbSet<WebhookRow> Webhooks => Set<WebhookRow>();

    protected override void OnModelCreating(ModelBuilder model)
    {
        model.Entity<VhostRow>(e =>
        {
            e.ToTable("vhosts");
            e.HasKey(v => v.Name);
        });
        model.Entity<ExchangeRow>(e =>
        {
            e.ToTable("exchanges");
            e.HasKey(x => new { x.Vhost, x.Name });
        });
        model.Entity<QueueRow>(e =>
        {
            e.ToTable("queues");
            e.HasKey(q => new { q.Vhost, q.Name });
            e.HasIndex(q => q.QueueId).IsUnique();
        });
        model.Entity<BindingRow>(e =>
        {
            e.ToTable("bindings");
            e.HasKey(b => new { b.Vhost, b.Id });
        });
        model.Entity<UserRow>(e =>
        {
            e.ToTable("users");
            e.HasKey(u => u.Name);
        });
        model.Entity<ApiKeyRow>(e =>
        {
            e.ToTable("api_keys");
            e.HasKey(k => k.Id);
            e.HasIndex(k => k.User);
        });
        model.Entity<PermissionRow>(e =>
        {
            e.ToTable("permissions");
            e.HasKey(p => new { p.User, p.Vhost });
        });
        model.Entity<WebhookRow>(e =>
        {
            e.ToTable("webhooks");
            e.HasKey(w => new { w.Vhost, w.Queue, w.Name });
        });
    }
}

public sealed class UserRow
{
    public required string Name { get; set; }
    /// <summary>Comma-separated tags (administrator, management).</summary>
    public required string Tags { get; set; }
    public long CreatedAt { get; set; }
}

/// <summary>An API key: only the SHA-256 of its secret is stored.</summary>
public sealed class ApiKeyRow
{
    /// <summary>The key's public id (also the start of the key).</summary>
    public required string Id { get; set; }
    public required string User { get; set; }
    public required byte[] SecretHash { get; set; }
    public string? Description { get; set; }
    /// <summary>Unix milliseconds.</summary>
    public long CreatedAt { get; set; }
    public long? ExpiresAt { get; set; }
    public long? RevokedAt { get; set; }
}

/// <summary>A user's permissions in a vhost: regular expressions over resource names, as RabbitMQ's.</summary>
public sealed class PermissionRow
{
    public required string User { get; set; }
    public required string Vhost { get; set; }
    public required string Configure { get; set; }
    public required string Write { get; set; }
    public required string Read { get; set; }
}

public sealed class VhostRow
{
    public required string Name { get; set; }
}

public sealed class ExchangeRow
{
    public required string Vhost { get; set; }
    public required string Name { get; set; }
    public required string Type { get; set; }
    public bool AutoDelete { get; set; }
    public bool Internal { get; set; }
    public byte[]? Arguments { get; set; }
}

public sealed class QueueRow
{
    public required string Vhost { get; set; }
    public required string Name { get; set; }
    /// <summary>The journal's key for the queue's messages.</summary>
    public long QueueId { get; set; }
    public bool Exclusive { get; set; }
    public bool AutoDelete { get; set; }
    public byte[]? Arguments { get; set; }
}

public sealed class BindingRow
{
    public required string Vhost { get; set; }
    public required string Id { get; set; }
    public required string Source { get; set; }
    public required string Destination { get; set; }
    /// <summary>"queue" or "exchange".</summary>
    public required string DestinationType { get; set; }
    public required string RoutingKey { get; set; }
    public byte[]? Arguments { get; set; }
}

/// <summary>A webhook subscription of a durable queue; deleted with its queue or vhost.</summary>
public sealed class WebhookRow
{
    public required string Vhost { get; set; }
    public required string Queue { get; set; }
    public required string Name { get; set; }
    /// <summary>The server's serialized definition (JSON), kept as it is.</summary>
    public required string Definition { get; set; }
    public string? DisabledReason { get; set; }
    /// <summary>When it was disabled, in UTC ticks.</summary>
    public long? DisabledAt { get; set; }
}

/// <summary>Lets <c>dotnet ef migrations add</c> build the model without starting the server.</summary>
internal sealed class DesignTimeFactory : IDesignTimeDbContextFactory<GatewayDbContext>
{
    public GatewayDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<GatewayDbContext>().UseSqlite("Data Source=design-time.db").Options);
}
