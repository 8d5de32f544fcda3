using System.Diagnostics.Metrics;
using System.Reflection;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Storage;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Http;

/// <summary>Wires the embedded SQLite store under the broker, and recovery at start.</summary>
internal static partial class Durability
{
    /// <summary>True while the build runs the app only to write the OpenAPI document: nothing may touch the disk.</summary>
    public static bool IsDocumentGeneration => Assembly.GetEntryAssembly()?.GetName().Name == "GetDocument.Insider";

    public static IServiceCollection AddGatewayStorage(this IServiceCollection services, string? repositoryRoot, string contentRoot)
    {
        services.AddOptions<Configuration.BackendOptions>()
            .Configure<IConfiguration>((o, configuration) =>
            {
                if (configuration[Configuration.BackendOptions.Key] is not { } value) return;
                // An unknown name fails the start with a message naming the setting (not the binder's conversion error).
                o.Backend = Enum.TryParse<Configuration.GatewayBackend>(value, ignoreCase: true, out var backend) && Enum.IsDefined(backend)
                    ? backend
                    : (Configuration.GatewayBackend)(-1);
            })
            .Validate(o => Enum.IsDefined(o.Backend), "Gateway:Backend must be Embedded or RabbitMq.")
            .ValidateOnStart();

        services.AddOptions<StorageOptions>()
            .Configure<IConfiguration>((o, configuration) =>
            {
                o.DataPath = configuration["Gateway:DataPath"] ?? o.DataPath;
                configuration.GetSection("Gateway:Storage").Bind(o);
                // Relative data paths are relative to the repository when run from a checkout, else to the content root.
                if (!Path.IsPathRooted(o.DataPath)) o.DataPath = Path.GetFullPath(Path.Combine(repositoryRoot ?? contentRoot, o.DataPath));
            })
            .Validate(o => !string.IsNullOrWhiteSpace(o.DataPath), "Gateway:DataPath must name a folder.")
            .Validate(o => o.BusyTimeoutMilliseconds >= 0, "Gateway:Storage:BusyTimeoutMilliseconds must not be negative.")
            .Validate(o => !string.IsNullOrWhiteSpace(o.FileName) && o.FileName.IndexOfAny(Path.GetInvalidFileNameChars()) < 0,
                "Gateway:Storage:FileName must be a file name, without folders.")
            .Validate(o => Enum.IsDefined(o.Provider), "Gateway:Storage:Provider must be Sqlite or PostgreSql.")
            .Validate(o => o.Provider != StorageProvider.PostgreSql || !string.IsNullOrWhiteSpace(o.ConnectionString),
                "Gateway:Storage:ConnectionString is required when Gateway:Storage:Provider is PostgreSql.")
            .Validate(o => o.Provider != StorageProvider.PostgreSql || string.IsNullOrWhiteSpace(o.ConnectionString)
                    || Gateway.Storage.PostgreSql.PostgresStateStore.ConnectionStringProblem(o.ConnectionString) is null,
                "Gateway:Storage:ConnectionString must be a PostgreSQL connection string naming the server (Host=…;Database=…;Username=…;Password=…).")
            .ValidateOnStart();

        if (IsDocumentGeneration)
        {
            services.AddSingleton(sp => new MessageBroker(BrokerOptionsFrom(sp)));
            services.AddSingleton<IBroker>(sp => sp.GetRequiredService<MessageBroker>());
            return services;
        }
        services.AddSingleton(sp => SqliteStore.Open(sp.GetRequiredService<IOptions<StorageOptions>>().Value,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Storage"),
            sp.GetRequiredService<IMeterFactory>().Create(Metrics.GatewayMetrics.StorageMeterName)));
        services.AddSingleton<IBrokerStore>(sp => sp.GetRequiredService<SqliteStore>());
        services.AddHealthChecks().AddCheck<StorageHealthCheck>("storage", tags: [Health.Ready]);
        services.AddSingleton(sp => new MessageBroker(BrokerOptionsFrom(sp), sp.GetRequiredService<SqliteStore>()));
        services.AddBrokerBackend();
        services.AddStateStore();
        services.AddHostedService<RecoveryService>();
        return services;
    }

    private static BrokerOptions BrokerOptionsFrom(IServiceProvider services)
    {
        var statistics = services.GetRequiredService<IOptions<Configuration.StatisticsOptions>>().Value;
        return new BrokerOptions
        {
            StatisticsInterval = TimeSpan.FromMilliseconds(statistics.SampleIntervalMilliseconds),
            RateWindow = TimeSpan.FromSeconds(statistics.RateWindowSeconds),
        };
    }

    /// <summary>
    /// Loads durable topology and persistent messages in the background, so that /healthz and /readyz answer while it
    /// runs (/readyz and the API with 503 until it is done). A long recovery logs its progress every 100,000 messages.
    /// </summary>
    private sealed partial class RecoveryService(IServiceProvider services, IOptions<Configuration.BackendOptions> backend, SqliteStore store,
        ReadinessState readiness,
        ILogger<RecoveryService> logger, IHostApplicationLifetime lifetime, Definitions.DefinitionsService definitions,
        IOptions<Configuration.DefinitionsOptions> definitionsOptions, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            readiness.MarkNotReady("recovering durable topology and messages");
            _ = Task.Run(async () =>
            {
                try
                {
                    // Only the embedded engine has a journal to recover: another backend keeps its messages itself.
                    if (backend.Value.Backend == Configuration.GatewayBackend.Embedded) Recover(services.GetRequiredService<MessageBroker>());
                }
                catch (Exception e)
                {
                    LogRecoveryFailed(e);
                    readiness.MarkNotReady("recovery failed: " + e.Message);
                    Environment.ExitCode = 1;
                    lifetime.StopApplication();
                    return;
                }
                if (definitionsOptions.Value.File is { Length: > 0 } file && !await ImportAtStartAsync(file)) return;
                readiness.MarkReady();
            }, CancellationToken.None);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        private void Recover(MessageBroker broker)
        {
            var total = store.CountJournalEntries();
            LogRecoveryStarted(store.DatabasePath, total);
            var done = broker.Recover(p =>
            {
                var rate = p.Messages / Math.Max(p.Elapsed.TotalSeconds, 0.001);
                var left = TimeSpan.FromSeconds(Math.Max(0, total - p.Messages) / Math.Max(rate, 1));
                LogRecoveryProgress(p.Messages, total, p.QueuesDone, p.Queues, rate, left);
            });
            LogRecovered(done.Messages, done.Queues, done.Elapsed.TotalMilliseconds);
        }

        // --definitions FILE: imported after recovery, before the gateway reports ready. A file that cannot be read or
        // parsed, or an import that cannot be stored, stops the start (exit 1); refused items are logged and skipped.
        private async Task<bool> ImportAtStartAsync(string file)
        {
            try
            {
                Contracts.DefinitionsDocument document;
                using (var stream = File.OpenRead(file))
                    document = System.Text.Json.JsonSerializer.Deserialize<Contracts.DefinitionsDocument>(stream, json.Value.SerializerOptions)
                               ?? throw new System.Text.Json.JsonException("The file holds JSON null, not definitions.");
                var report = await definitions.ImportAsync(document);
                foreach (var item in report.Vhosts.Concat(report.Exchanges).Concat(report.Queues).Where(i => i.Outcome == Contracts.ImportItemOutcome.Refused))
                    LogDefinitionRefused(item.Vhost, item.Name, item.Reason);
                foreach (var b in report.Bindings.Where(i => i.Outcome == Contracts.ImportItemOutcome.Refused))
                    LogDefinitionRefused(b.Vhost, $"binding {b.Source} -> {b.Destination} ('{b.RoutingKey}')", b.Reason);
                LogDefinitionsImported(file, report.Summary.Created, report.Summary.Existed, report.Summary.Refused);
                return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or StorageException)
            {
                LogDefinitionsFailed(e, file);
                readiness.MarkNotReady("importing the definitions file failed: " + e.Message);
                Environment.ExitCode = 1;
                lifetime.StopApplication();
                return false;
            }
        }

        [LoggerMessage(EventId = 2004, Level = LogLevel.Information, Message = "Imported definitions from {File}: {Created} created, {Existed} existed, {Refused} refused")]
        private partial void LogDefinitionsImported(string file, int created, int existed, int refused);

        [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "Definitions: refused {Item} in vhost {Vhost}: {Reason}")]
        private partial void LogDefinitionRefused(string vhost, string item, string? reason);

        [LoggerMessage(EventId = 2006, Level = LogLevel.Critical, Message = "The definitions file {File} could not be imported; stopping")]
        private partial void LogDefinitionsFailed(Exception exception, string file);

        [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "Recovering from {Database}: {Entries} persistent message entries")]
        private partial void LogRecoveryStarted(string database, long entries);

        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Recovery: {Messages}/{Total} messages, {QueuesDone}/{Queues} queues, {Rate:F0} msg/s, about {Left} left")]
        private partial void LogRecoveryProgress(long messages, long total, int queuesDone, int queues, double rate, TimeSpan left);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Recovered {Messages} messages in {Queues} durable queues in {Milliseconds:F0} ms")]
        private partial void LogRecovered(long messages, int queues, double milliseconds);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Critical, Message = "Recovery failed; stopping")]
        private partial void LogRecoveryFailed(Exception exception);
    }

    /// <summary>Answers 503 to API calls until recovery has finished, so nobody sees a half-loaded broker.</summary>
    public static IApplicationBuilder UseRecoveryGate(this IApplicationBuilder app)
    {
        var readiness = app.ApplicationServices.GetRequiredService<ReadinessState>();
        return app.Use((context, next) =>
        {
            if (readiness.IsReady || !context.Request.Path.StartsWithSegments("/api")) return next(context);
            context.Response.Headers.RetryAfter = "1";
            return Problems.Problem(StatusCodes.Status503ServiceUnavailable, "not-ready",
                $"The gateway is not ready: {readiness.NotReadyReason}.").ExecuteAsync(context);
        });
    }
}
