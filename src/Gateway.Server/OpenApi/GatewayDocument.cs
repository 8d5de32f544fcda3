using Gateway.Server.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Gateway.Server.OpenApi;

/// <summary>
/// Shapes the generated OpenAPI document into what generators and linters (<c>@redocly/cli lint</c>, run in CI) need
/// beyond what the endpoints declare: the title and description, a server, the authentication schemes, tag
/// descriptions, open field tables and problem documents with extension members.
/// </summary>
internal static class GatewayDocument
{
    /// <summary>An API key as a bearer token, in <c>components.securitySchemes</c>.</summary>
    public const string BearerScheme = "bearer";

    /// <summary>HTTP Basic with the user name and one of its API keys, in <c>components.securitySchemes</c>.</summary>
    public const string BasicScheme = "basic";

    private static readonly Dictionary<string, string> TagDescriptions = new()
    {
        ["Vhosts"] = "Virtual hosts: namespaces of exchanges, queues and bindings. 'default' exists from the first start.",
        ["Exchanges"] = "Exchanges (direct, fanout, topic, headers) that route published messages to queues through bindings.",
        ["Queues"] = "Queues: FIFO stores of messages with their counts; declare, read, delete, purge.",
        ["Bindings"] = "Bindings from exchanges to queues or exchanges, with stable ids derived from their definition.",
        ["Publishing"] = "Publishing messages to exchanges; the answer is the publisher confirm.",
        ["Consuming"] = "Pulling, long-polling, acknowledging and streaming (WebSocket, Server-Sent Events) deliveries.",
        ["Users"] = "Users, their API keys and vhost permissions, and single-use tickets for browser WebSockets and event streams.",
        ["Webhooks"] = "Webhook subscriptions of queues: messages POSTed to a URL, with their status, retries and last error.",
        ["Operations"] = "Health and readiness, the overview's counts and rates, Prometheus metrics, and definitions export and import.",
    };

    public static OpenApiOptions AddGatewayDocumentTransformers(this OpenApiOptions options) => options
        .AddSchemaTransformer((schema, context, _) =>
        {
            // Field tables (arguments, headers) are open maps of any JSON value. Said explicitly, because generators read
            // a bare "type: object" as an object without members (openapi-typescript: Record<string, never>).
            if (context.JsonPropertyInfo?.CustomConverter is FieldTableConverter) schema.AdditionalProperties = new OpenApiSchema();
            // Problem documents carry extension members (RFC 9457 §3.2): every one has a traceId, validation problems
            // their errors. The generated "additionalProperties: false" would make strict clients refuse them.
            if (context.JsonPropertyInfo is null && typeof(ProblemDetails).IsAssignableFrom(context.JsonTypeInfo.Type))
            {
                schema.AdditionalPropertiesAllowed = true;
                schema.AdditionalProperties = null;
                schema.Properties ??= new Dictionary<string, IOpenApiSchema>();
                schema.Properties["traceId"] = new OpenApiSchema
                {
                    Type = JsonSchemaType.String,
                    Description = "The request's trace identifier, to find it in the gateway's logs.",
                };
                if (schema.Properties.TryGetValue("type", out var type) && type is OpenApiSchema typeSchema)
                    typeSchema.Description = "The kind of problem: urn:gateway:problem:{kind} for the gateway's own (not-found, validation, …).";
            }
            return Task.CompletedTask;
        })
        .AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Gateway";
            document.Info.Version = "v1";
            document.Info.Description = "The AMQP 0-9-1 model (exchanges, queues, bindings, acknowledgements) over HTTP. " +
                                        "Every error is an RFC 9457 problem document (application/problem+json). " +
                                        "Authenticate with an API key: 'Authorization: Bearer <key>', or HTTP Basic with user name and key.";

            // A served document names the origin it was fetched from; the one written at build time knows no origin, and
            // says "the host that serves this document" instead.
            if (document.Servers is not { Count: > 0 })
                document.Servers = [new OpenApiServer { Url = "/", Description = "The host serving this document." }];

            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http, Scheme = "bearer", Description = "An API key (gw_…), as created by CreateKey.",
            };
            document.Components.SecuritySchemes[BasicScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http, Scheme = "basic", Description = "The user name and one of its API keys as the password.",
            };
            document.Security =
            [
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] },
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BasicScheme, document)] = [] },
            ];

            foreach (var tag in document.Tags ?? Enumerable.Empty<OpenApiTag>())
                if (tag is { Description: null, Name: { } name } && TagDescriptions.TryGetValue(name, out var text))
                    tag.Description = text;
            return Task.CompletedTask;
        });
}
