using FluentValidation;
using Gateway.Broker;
using Gateway.Server.Capacity;
using Gateway.Server.Contracts;
using Gateway.Server.Endpoints;
using Gateway.Server.Http;
using Gateway.Server.Json;
using Gateway.Server.Security;
using Gateway.Server.Validation;
using Gateway.Storage;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.OpenApi;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

var builder = WebApplication.CreateBuilder(args);
var repositoryRoot = RepositorySettings.FindRepositoryRoot();
RepositorySettings.AddTo(builder.Configuration, repositoryRoot);

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
builder.Services.AddOptions<KestrelServerOptions>()
    .Configure<IOptions<GatewayLimitsOptions>>((kestrel, limits) => kestrel.Limits.MaxRequestBodySize = limits.Value.MaxRequestBodyBytes);

builder.Services.AddOptions<AuthOptions>()
    .BindConfiguration("Gateway:Auth")
    .Validate(a => a.TicketSeconds is >= 1 and <= 3600, "Gateway:Auth:TicketSeconds must be from 1 to 3600.")
    .Validate(a => string.IsNullOrEmpty(a.BootstrapKey) || a.BootstrapKey.Length >= 32, "Gateway:Auth:BootstrapKey must be at least 32 characters.")
    .Validate(a => Names.Validate(a.BootstrapUser) is null, "Gateway:Auth:BootstrapUser must be a valid name (1 to 255 bytes, no '/').")
    .ValidateOnStart();
var auth = builder.Configuration.GetSection("Gateway:Auth").Get<AuthOptions>() ?? new AuthOptions();
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(sp => new UserDirectory(Durability.IsDocumentGeneration ? null : sp.GetRequiredService<SqliteStore>(), TimeProvider.System));
builder.Services.AddSingleton<Access>();
builder.Services.AddSingleton<TicketBook>();
builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
    .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
builder.Services.AddAuthorization(o =>
{
    // On by default: every endpoint needs a signed-in user unless it says AllowAnonymous (health checks).
    if (auth.Enabled) o.FallbackPolicy = new AuthorizationPolicyBuilder(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser().Build();
});
if (auth.CorsOrigins.Length > 0)
    builder.Services.AddCors(o => o.AddDefaultPolicy(p => p.WithOrigins(auth.CorsOrigins).AllowAnyHeader().AllowAnyMethod()
        .WithExposedHeaders("Location", "WWW-Authenticate", "Retry-After")));

builder.Services.AddSingleton<ReadinessState>();
builder.Services.AddGatewayStorage(repositoryRoot, builder.Environment.ContentRootPath);
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
builder.Services.AddHealthChecks().AddCheck<ReadinessHealthCheck>("ready", tags: ["ready"])
    .AddCheck<MemoryAlarmHealthCheck>("memory", tags: ["ready"]);
builder.Services.AddOpenApi("v1", options => options.AddDocumentTransformer((document, _, _) =>
{
    document.Info.Title = "Gateway";
    document.Info.Version = "v1";
    document.Info.Description = "The AMQP 0-9-1 model (exchanges, queues, bindings, acknowledgements) over HTTP. " +
                                "Every error is an RFC 9457 problem document (application/problem+json). " +
                                "Authenticate with an API key: 'Authorization: Bearer <key>', or HTTP Basic with user name and key.";
    document.Components ??= new OpenApiComponents();
    document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
    document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
    {
        Type = SecuritySchemeType.Http, Scheme = "bearer", Description = "An API key (gw_…), as created by CreateKey.",
    };
    document.Components.SecuritySchemes["basic"] = new OpenApiSecurityScheme
    {
        Type = SecuritySchemeType.Http, Scheme = "basic", Description = "The user name and one of its API keys as the password.",
    };
    document.Security =
    [
        new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] },
        new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("basic", document)] = [] },
    ];
    return Task.CompletedTask;
}));

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseUrlPathGuard();
app.UseRecoveryGate();
if (auth.CorsOrigins.Length > 0) app.UseCors();
// The API documents are static shells like the dashboard's: public, they hold no data. The UI is served before
// authentication (it is middleware, not an endpoint, so the fallback policy would otherwise ask it for a key); its
// middleware matches every request's path with regular expressions: keep it off the API's hot path.
app.UseWhen(context => context.Request.Path.StartsWithSegments("/swagger"), swagger => swagger.UseSwaggerUI(o =>
{
    o.RoutePrefix = "swagger";
    o.SwaggerEndpoint("/openapi/v1.json", "Gateway v1");
}));
app.UseAuthentication();
app.UseRateLimiter();
app.UseAuthorization();
app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) });

app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous().DisableRateLimiting();
app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready"), ResponseWriter = HealthReportText.WriteAsync })
    .AllowAnonymous().DisableRateLimiting();

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

if (Durability.IsDocumentGeneration) app.Services.GetRequiredService<ReadinessState>().MarkReady();
else Bootstrap.Run(app.Services.GetRequiredService<UserDirectory>(), app.Services.GetRequiredService<IOptions<AuthOptions>>().Value,
    app.Services.GetRequiredService<IOptions<StorageOptions>>().Value, app.Logger);

app.Run();

/// <summary>The entry point, visible to the integration tests.</summary>
public partial class Program;
