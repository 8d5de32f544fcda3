using Gateway.Storage;
using Gateway.Storage.PostgreSql;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Http;

/// <summary>
/// The composition root of the server's own records (users, API keys, permissions, webhooks): the one place that
/// knows which store keeps them (Gateway:Storage:Provider). Everything else asks for <see cref="IStateStore"/>.
/// </summary>
internal static class StateStores
{
    public static IServiceCollection AddStateStore(this IServiceCollection services)
    {
        // Opened only when chosen: the SQLite file is opened anyway (topology, journal), PostgreSQL only when configured.
        services.AddSingleton(sp => PostgresStateStore.Open(sp.GetRequiredService<IOptions<StorageOptions>>().Value.ConnectionString!,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Storage.PostgreSql")));
        services.AddSingleton<IStateStore>(sp => sp.GetRequiredService<IOptions<StorageOptions>>().Value.Provider switch
        {
            StorageProvider.PostgreSql => sp.GetRequiredService<PostgresStateStore>(),
            _ => sp.GetRequiredService<SqliteStore>(),
        });
        services.AddHealthChecks().AddCheck<StateStoreHealthCheck>("state", tags: [Health.Ready]);
        return services;
    }

    /// <summary>Users and keys reachable, and (a shared store) other nodes' changes heard.</summary>
    private sealed class StateStoreHealthCheck(IStateStore store, IOptions<StorageOptions> options) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(store.StateProblem is { } problem
                ? HealthCheckResult.Unhealthy(problem)
                : HealthCheckResult.Healthy(options.Value.Provider.ToString()));
    }
}
