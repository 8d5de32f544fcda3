using FluentValidation;
using Gateway.Broker;
using Gateway.Server.Capacity;
using Gateway.Server.Configuration;
using Gateway.Server.Contracts;
using Gateway.Server.Endpoints;
using Gateway.Server.Http;
using Gateway.Server.Json;
using Gateway.Server.Metrics;
using Gateway.Server.Security;
using Gateway.Server.OpenApi;
using Gateway.Server.Webhooks;
using Gateway.Server.Validation;
using Gateway.Storage;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.OpenApi;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

if (args is [HealthProbe.Command, ..]) return HealthProbe.Run(args);

// prometheus-net's process-wide default registry (and the listeners it would attach to every meter) is not used:
// each gateway serves its own registry (GatewayMetrics).
Prometheus.Metrics.SuppressDefaultMetrics();

try
{
    var app = BuildApp(args);
    await app.RunAsync();
    return Environment.ExitCode; // start-up work that fails (recovery, --definitions) sets it before stopping the host
}
catch (OperationCanceledException) when (Environment.ExitCode != 0)
{
    // Start-up work failed (recovery, --definitions) and stopped the host before Kestrel had bound: the work already
    // said why and set the exit code; the cancelled start is its consequence, not a crash.
    return Environment.ExitCode;
}
catch (Exception e) when (StartFailure(e) is { } reason)
{
    // Invalid settings (each message names its setting), a value that does not convert, or storage that cannot open:
    // say so plainly and exit non-zero rather than crash with a stack trace.
    Console.Error.WriteLine("Gateway cannot start: " + reason.Message);
    return 1;
}

static Exception? StartFailure(Exception e) => e switch
{
    OptionsValidationException or Gateway.Broker.Durability.StorageException => e,
    // The configuration binder's "Failed to convert configuration value 'ten' at 'Gateway:…' to type …".
    InvalidOperationException when e.Message.Contains("configuration", StringComparison.OrdinalIgnoreCase) => e,
    { InnerException: { } inner } => StartFailure(inner),
    _ => null,
};

static WebApplication BuildApp(string[] args)
{
    var builder = WebApplication.CreateBuilder(args);
    var repositoryRoot = RepositorySettings.FindRepositoryRoot();
    RepositorySettings.AddTo(builder.Configuration, repositoryRoot);
    // `--definitions FILE` is the short form of Gateway:Definitions:File (added last, so it wins like any command-line setting).
    builder.Configuration.AddCommandLine(args, new Dictionary<string, string> { ["--definitions"] = "Gateway:Definitions:File" });

    builder.Services.AddOptions<GatewayLimitsOptions>()
        .BindConfiguration("Gateway:Limits")
        .Validate(l => l.MaxMessageBytes > 0, "Gateway:Limits:MaxMessageBytes must be positive.")
        .Validate(l => l.MaxRequestBodyBytes >= l.MaxMessageBytes, "Gateway:Limits:MaxRequestBodyBytes must be at least Gateway:Limits:MaxMessageBytes.")
        .Validate(l => l.MaxBatchMessages > 0, "Gateway:Limits:MaxBatchMessages must be positive.")
        .Validate(l => l.MaxHeaders >= 0, "Gateway:Limits:MaxHeaders must not be negative.")
        .Validate(l => l.MaxHeaderBytes >= 0, "Gateway:Limits:MaxHeaderBytes must not be negative.")
        .Validate(l => l.MaxPrefetch > 0, "Gateway:Limits:MaxPrefetch must be positive.")
        .Validate(l => l.MaxConnectionsPerUser > 0, "Gateway:Limits:MaxConnectionsPerUser must be positive.")
        .Validate(l => l.RequestsPerSecondPerUser > 0, "Gateway:Limits:RequestsPerSecondPerUser must be positive.")
        .Validate(l => l.RequestBurstPerUser > 0, "Gateway:Limits:RequestBurstPerUser must be positive.")
        .Validate(l => l.MaxLongPollWaiters >= 0, "Gateway:Limits:MaxLongPollWaiters must not be negative.")
        .Validate(l => l.MemoryHighWatermarkBytes >= 0, "Gateway:Limits:MemoryHighWatermarkBytes must not be negative (0: use MemoryHighWatermarkFraction).")
        .Validate(l => l.MemoryHighWatermarkFraction is > 0 and <= 1, "Gateway:Limits:MemoryHighWatermarkFraction must be above 0 and at most 1.")
        .Validate(l => l.MemorySampleMilliseconds > 0, "Gateway:Limits:MemorySampleMilliseconds must be positive.")
        .ValidateOnStart();
    builder.Services.AddSingleton<MemoryAlarm>();
    if (!Durability.IsDocumentGeneration) builder.Services.AddHostedService(sp => sp.GetRequiredService<MemoryAlarm>());
    builder.Services.AddSingleton<ConnectionSlots>();
    builder.Services.AddSingleton<LongPollWaiters>();
    builder.Services.AddGatewayRateLimiting();
    builder.Services.AddOptions<EventStreamOptions>()
        .BindConfiguration("Gateway:EventStream")
        .Validate(o => o.HeartbeatSeconds is >= 1 and <= 3600, "Gateway:EventStream:HeartbeatSeconds must be from 1 to 3600.")
        .ValidateOnStart();
    builder.Services.AddOptions<StatisticsOptions>().BindConfiguration("Gateway:Statistics").ValidateDataAnnotations()
        .Validate(s => s.RateWindowSeconds * 1000 >= s.SampleIntervalMilliseconds,
            "Gateway:Statistics:RateWindowSeconds must cover at least one Gateway:Statistics:SampleIntervalMilliseconds.")
        .ValidateOnStart();
    builder.Services.AddOptions<ShutdownOptions>().BindConfiguration("Gateway:Shutdown").ValidateDataAnnotations().ValidateOnStart();
    builder.Services.AddOptions<DefinitionsOptions>().BindConfiguration("Gateway:Definitions")
        .Validate(d => string.IsNullOrEmpty(d.File) || File.Exists(d.File), "Gateway:Definitions:File (--definitions) names a file that does not exist.")
        .ValidateOnStart();
    builder.Services.AddSingleton<IValidateOptions<KnownSettings.Marker>, KnownSettings>();
    builder.Services.AddOptions<KnownSettings.Marker>().ValidateOnStart();
    builder.Services.AddOptions<KestrelServerOptions>()
        .Configure<IOptions<GatewayLimitsOptions>>((kestrel, limits) => kestrel.Limits.MaxRequestBodySize = limits.Value.MaxRequestBodyBytes);
    builder.Services.AddOptions<HostOptions>()
        .Configure<IOptions<ShutdownOptions>>((host, shutdown) => host.ShutdownTimeout = TimeSpan.FromSeconds(shutdown.Value.TimeoutSeconds));

    builder.Services.AddOptions<AuthOptions>()
        .BindConfiguration("Gateway:Auth")
        .Validate(a => a.TicketSeconds is >= 1 and <= 3600, "Gateway:Auth:TicketSeconds must be from 1 to 3600.")
        .Validate(a => string.IsNullOrEmpty(a.BootstrapKey) || a.BootstrapKey.Length >= 32, "Gateway:Auth:BootstrapKey must be at least 32 characters.")
        .Validate(a => Names.Validate(a.BootstrapUser) is null, "Gateway:Auth:BootstrapUser must be a valid name (1 to 255 bytes, no '/').")
        .ValidateOnStart();
    var auth = builder.Configuration.GetSection("Gateway:Auth").Get<AuthOptions>() ?? new AuthOptions();
    builder.Services.AddSingleton(TimeProvider.System);
    builder.Services.AddSingleton(sp => new UserDirectory(Durability.IsDocumentGeneration ? null : sp.GetRequiredService<IStateStore>(), TimeProvider.System,
        sp.GetRequiredService<ILogger<UserDirectory>>()));
    builder.Services.AddSingleton<Access>();
    builder.Services.AddSingleton<TicketBook>();
    builder.Services.AddSingleton<ApiKeyAuthentication>();
    if (auth.CorsOrigins.Length > 0)
        builder.Services.AddCors(o => o.AddDefaultPolicy(p => p.WithOrigins(auth.CorsOrigins).AllowAnyHeader().AllowAnyMethod()
            .WithExposedHeaders("Location", "WWW-Authenticate", "Retry-After")));

    builder.Services.AddOptions<WebhookOptions>()
        .BindConfiguration("Gateway:Webhooks")
        .Validate(o => AddressPolicy.AreValid(o.AllowedNetworks),
            "Gateway:Webhooks:AllowedNetworks must list networks in CIDR form (e.g. 10.0.0.0/8, 127.0.0.1/32, fd00::/8).")
        .Validate(o => o.MaxResponseBodyBytes is >= 0 and <= 1024 * 1024, "Gateway:Webhooks:MaxResponseBodyBytes must be from 0 to 1048576.")
        .Validate(o => o.RecentFailures is >= 0 and <= 1000, "Gateway:Webhooks:RecentFailures must be from 0 to 1000.")
        .ValidateOnStart();
    builder.Services.AddSingleton(sp => new AddressPolicy(sp.GetRequiredService<IOptions<WebhookOptions>>().Value.AllowedNetworks));
    builder.Services.AddSingleton<WebhookDispatcher>();
    builder.Services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());
    builder.Services.AddSingleton<ReadinessState>();
    builder.Services.AddGatewayStorage(repositoryRoot, builder.Environment.ContentRootPath);
    builder.Services.AddSingleton(sp => new GatewayMetrics(sp.GetRequiredService<IBroker>(), sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
        sp.GetRequiredService<WebhookDispatcher>()));
    builder.Services.AddHostedService<MetricsStartup>();
    builder.Services.AddOptions<Gateway.Amqp.AmqpOptions>().BindConfiguration(Gateway.Amqp.AmqpOptions.Section).ValidateOnStart();
    builder.Services.AddSingleton<IValidateOptions<Gateway.Amqp.AmqpOptions>, Gateway.Server.Amqp.AmqpOptionsValidation>();
    builder.Services.AddSingleton<Gateway.Server.Amqp.AmqpListenerService>();
    builder.Services.AddHostedService(sp => sp.GetRequiredService<Gateway.Server.Amqp.AmqpListenerService>());
    builder.Services.AddSingleton<Gateway.Server.Definitions.DefinitionsService>();
    builder.Services.AddValidatorsFromAssemblyContaining<PublishRequestValidator>(ServiceLifetime.Singleton, includeInternalTypes: true);
    builder.Services.ConfigureHttpJsonOptions(o =>
    {
        o.SerializerOptions.TypeInfoResolverChain.Insert(0, GatewayJsonContext.Default);
        // JSON null for a non-nullable member (e.g. "payload": null) is a malformed request (400), not a null to crash on.
        o.SerializerOptions.RespectNullableAnnotations = true;
        // Numbers are JSON numbers: "10" for an integer field is a type error, as the OpenAPI schema says.
        o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        // An unknown member is a typo ("mandatroy") or another API's field ("routing_key"): refuse it rather than ignore it.
        o.SerializerOptions.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow;
    });
    builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
    // Problems the framework writes itself (no route 404, 405, 415 for a non-JSON body) carry no detail; give them one.
    builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = c => c.ProblemDetails.Detail ??= c.ProblemDetails.Status switch
    {
        StatusCodes.Status404NotFound => $"No resource at {c.HttpContext.Request.Path}.",
        StatusCodes.Status405MethodNotAllowed => $"{c.HttpContext.Request.Method} is not allowed on {c.HttpContext.Request.Path}.",
        StatusCodes.Status415UnsupportedMediaType => $"Content-Type '{c.HttpContext.Request.ContentType}' is not supported here; send application/json.",
        var status => ReasonPhrases.GetReasonPhrase(status ?? StatusCodes.Status500InternalServerError),
    });
    builder.Services.AddExceptionHandler<GatewayExceptionHandler>();
    // /readyz runs every check tagged Health.Ready: add one there (e.g. a memory high-watermark) to take part in readiness.
    builder.Services.AddHealthChecks().AddCheck<ReadinessHealthCheck>("recovery", tags: [Health.Ready])
        .AddCheck<MemoryAlarmHealthCheck>("memory", tags: [Health.Ready])
        .AddCheck<BackendHealthCheck>("backend", tags: [Health.Ready]);
    builder.Services.AddOpenApi("v1", options => options.AddGatewayDocumentTransformers());
    builder.AddDashboardFiles();

    var app = builder.Build();

    app.UseExceptionHandler();
    app.UseStatusCodePages();
    app.UseUrlPathGuard();
    app.UseRecoveryGate();
    // The dashboard's files and the Swagger UI are public shells that hold no data (their API calls carry the key): served
    // before authentication, so that the rule "an API key for everything" (UseAuthenticatedUsers) does not apply to them.
    app.UseDashboard();
    // The UI's middleware matches every request's path with regular expressions: keep it off the API's hot path.
    app.UseWhen(context => context.Request.Path.StartsWithSegments("/swagger"), swagger => swagger.UseSwaggerUI(o =>
    {
        o.RoutePrefix = "swagger";
        o.SwaggerEndpoint("/openapi/v1.json", "Gateway v1");
    }));
    if (auth.CorsOrigins.Length > 0) app.UseCors();
    app.UseApiKeyAuthentication();
    app.UseRateLimiter();
    // On by default: every endpoint needs a signed-in user unless it says AllowAnonymous (health checks).
    if (auth.Enabled) app.UseAuthenticatedUsers();
    app.UseUtf8BodyCheck();
    // Only where a handshake can be (an Upgrade header, or HTTP/2's extended CONNECT): the middleware otherwise builds a
    // handshake object and a feature on every request to find that it is not one.
    app.UseWhen(context => context.Request.Headers.Upgrade.Count > 0 || HttpMethods.IsConnect(context.Request.Method),
        sockets => sockets.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) }));

    // The API documents are static shells like the dashboard's: public, they hold no data.
    app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
    app.MapHealthEndpoints();
    app.MapGatewayMetrics();

    var api = app.MapGroup("/api").AddEndpointFilter<RouteNamesFilter>()
        .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status429TooManyRequests).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    var hot = app.MapGroup("/api")
        .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status401Unauthorized)
        .ProducesProblem(StatusCodes.Status429TooManyRequests).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
    api.MapVhostEndpoints();
    api.MapExchangeEndpoints();
    api.MapQueueEndpoints();
    api.MapBindingEndpoints();
    api.MapPublishEndpoints(hot);
    api.MapConsumeEndpoints();
    api.MapWebSocketEndpoints();
    api.MapEventStreamEndpoints();
    api.MapUserEndpoints();
    api.MapWebhookEndpoints();
    api.MapOverviewEndpoints();
    api.MapDefinitionsEndpoints();

    if (Durability.IsDocumentGeneration) app.Services.GetRequiredService<ReadinessState>().MarkReady();
    else Bootstrap.Run(app.Services.GetRequiredService<UserDirectory>(), app.Services.GetRequiredService<IOptions<AuthOptions>>().Value,
        app.Services.GetRequiredService<IOptions<StorageOptions>>().Value, (app.Configuration["urls"] ?? "http://127.0.0.1:8080").Split(';')[0], app.Logger);
    return app;
}

/// <summary>The entry point, visible to the integration tests.</summary>
public partial class Program;
