using FluentValidation;
using Gateway.Broker;
using Gateway.Server.Contracts;
using Gateway.Server.Endpoints;
using Gateway.Server.Http;
using Gateway.Server.Json;
using Gateway.Server.Validation;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

var builder = WebApplication.CreateBuilder(args);
RepositorySettings.AddTo(builder.Configuration, RepositorySettings.FindRepositoryRoot());

builder.Services.AddOptions<GatewayLimitsOptions>()
    .BindConfiguration("Gateway:Limits")
    .Validate(l => l.MaxMessageBytes > 0, "Gateway:Limits:MaxMessageBytes must be positive.")
    .Validate(l => l.MaxRequestBodyBytes >= l.MaxMessageBytes, "Gateway:Limits:MaxRequestBodyBytes must be at least Gateway:Limits:MaxMessageBytes.")
    .Validate(l => l.MaxBatchMessages > 0, "Gateway:Limits:MaxBatchMessages must be positive.")
    .ValidateOnStart();
builder.Services.AddOptions<KestrelServerOptions>()
    .Configure<IOptions<GatewayLimitsOptions>>((kestrel, limits) => kestrel.Limits.MaxRequestBodySize = limits.Value.MaxRequestBodyBytes);

builder.Services.AddSingleton(_ => new MessageBroker());
builder.Services.AddSingleton<ReadinessState>();
builder.Services.AddValidatorsFromAssemblyContaining<PublishRequestValidator>(ServiceLifetime.Singleton, includeInternalTypes: true);
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, GatewayJsonContext.Default));
builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
builder.Services.AddProblemDetails();
builder.Services.AddExceptionHandler<GatewayExceptionHandler>();
builder.Services.AddHealthChecks().AddCheck<ReadinessHealthCheck>("ready", tags: ["ready"]);
builder.Services.AddOpenApi("v1", options => options.AddDocumentTransformer((document, _, _) =>
{
    document.Info.Title = "Gateway";
    document.Info.Version = "v1";
    document.Info.Description = "The AMQP 0-9-1 model (exchanges, queues, bindings, acknowledgements) over HTTP. " +
                                "Every error is an RFC 9457 problem document (application/problem+json).";
    return Task.CompletedTask;
}));

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();

app.MapOpenApi("/openapi/{documentName}.json");
app.UseSwaggerUI(o =>
{
    o.RoutePrefix = "swagger";
    o.SwaggerEndpoint("/openapi/v1.json", "Gateway v1");
});
app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });

var api = app.MapGroup("/api").AddEndpointFilter<RouteNamesFilter>().ProducesProblem(StatusCodes.Status400BadRequest);
api.MapVhostEndpoints();
api.MapExchangeEndpoints();
api.MapQueueEndpoints();
api.MapBindingEndpoints();
api.MapPublishEndpoints();
api.MapConsumeEndpoints();

var readiness = app.Services.GetRequiredService<ReadinessState>();
app.Lifetime.ApplicationStarted.Register(readiness.MarkReady);

app.Run();

/// <summary>The entry point, visible to the integration tests.</summary>
public partial class Program;
