using Gateway.Storage.Topology;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Gateway.Storage.PostgreSql;

/// <summary>
/// <see cref="GatewayDbContext"/>'s model on PostgreSQL. A context type of its own only so that its migrations
/// (PostgreSql/Migrations, generated for Npgsql) are told apart from the SQLite ones (Migrations/): EF Core picks a
/// context's migrations by its exact type. The model is the base's, unchanged; only the tables of users, keys,
/// permissions and webhooks are used on this provider (topology and the journal stay with the embedded engine).
/// </summary>
public sealed class PostgresGatewayDbContext(DbContextOptions<PostgresGatewayDbContext> options) : GatewayDbContext(options);

/// <summary>Lets <c>dotnet ef migrations add … --context PostgresGatewayDbContext</c> build the model without a server.</summary>
internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresGatewayDbContext>
{
    public PostgresGatewayDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresGatewayDbContext>().UseNpgsql("Host=localhost;Database=design-time").Options);
}
