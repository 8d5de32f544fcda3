using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json.Serialization.Metadata;
using FluentValidation;
using Gateway.Broker;
using Gateway.Broker.Messages;
using Gateway.Broker.Topology;
using Gateway.Server.Capacity;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Server.Security;
using Gateway.Server.Validation;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Endpoints;

internal static class PublishEndpoints
{
    /// <param name="api">The API group, whose filters check route names and validate bodies.</param>
    /// <param name="hot">The same prefix without filters, for the single publish: it reads, validates and checks names
    /// itself (names only when a lookup fails), because endpoint filters cost a measurable share of a publish.</param>
    public static void MapPublishEndpoints(this RouteGroupBuilder api, RouteGroupBuilder hot)
    {
        var publish = api.MapGroup("/vhosts/{vhost}/exchanges/{exchange}").WithTags("Publishing");
        var hotPublish = hot.MapGroup("/vhosts/{vhost}/exchanges/{exchange}").WithTags("Publishing");

        var singletons = new HotServices(((IEndpointRouteBuilder)hot).ServiceProvider);
        hotPublish.MapPost("/publish",
                // ValueTask: with the embedded engine nothing here waits, and the request completes without a Task.
                async ValueTask<Results<PublishAnswer, ValidationProblem, ProblemHttpResult>> (string vhost, string exchange, HttpRequest http) =>
            {
                var (broker, validator, type, limits, access, memory) = singletons.Get();
                if (access.Check(http.HttpContext, vhost, Permission.Write, exchange) is { } denied) return denied;
                if (memory.Refusal(http.HttpContext) is { } alarm) return alarm;
                var name = MessageMapping.ExchangeName(exchange);
                var body = await PublishBody.ReadAsync(http, type, name, limits.MaxMessageBytes);
                // Not the common shape: the serializer's request and its checks (the validator words the failures).
                if (body.Request is { } request && !PublishChecks.IsValid(request, limits) && RequestValidation.Check(validator, request) is { } invalid)
                    return invalid;
                var v = await broker.GetVhostAsync(vhost, http.HttpContext.RequestAborted);
                if (v is null) return MissingVhost(vhost, exchange);
                if ((body.Message ?? MessageMapping.ToMessage(name, body.Request!, limits.MaxMessageBytes)) is not { } message) return TooLarge(limits);
                RequireDelayFeature(broker, message);
                var outcome = await v.PublishAsync(name, message, http.HttpContext.RequestAborted);
                if (Refusal(outcome, vhost, exchange) is { } refused) return refused;
                if (outcome.Rejected > 0) return PublishRefusals.Rejected(outcome);
                if (!outcome.Routed && body.Mandatory)
                    return Problems.Unroutable($"The message is mandatory and no queue took it from exchange '{exchange}' with routing key '{message.RoutingKey}'.");
                return PublishAnswer.For(outcome, body.Mandatory);
            })
            .Accepts<PublishRequest>("application/json")
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .WithName("Publish").WithSummary("Publish a message (JSON envelope)")
            .WithDescription("The answer is the publisher confirm. A mandatory message that no queue takes answers 422 " +
                             "(type urn:gateway:problem:unroutable); a non-mandatory one answers 200 with routed=false. A full queue with " +
                             "x-overflow reject-publish refuses the message: 409 (type urn:gateway:problem:rejected), not confirmed, as AMQP's " +
                             "basic.nack (other queues it was routed to may have taken it: the detail says how many). " + MemoryAlarmNote)
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        hotPublish.MapPost("/publish/batch",
                async Task<Results<Ok<BatchPublishResponse>, ValidationProblem, ProblemHttpResult>> (string vhost, string exchange, HttpRequest http,
                IBroker broker, IValidator<BatchPublishRequest> validator, IOptions<JsonOptions> json, IOptions<GatewayLimitsOptions> limits, Access access,
                MemoryAlarm memory) =>
            {
                if (access.Check(http.HttpContext, vhost, Permission.Write, exchange) is { } denied) return denied;
                if (memory.Refusal(http.HttpContext) is { } alarm) return alarm;
                var request = await JsonBody.ReadAsync(http, BatchType ??= JsonBody.TypeInfo<BatchPublishRequest>(json));
                if (RequestValidation.Check(validator, request) is { } invalid) return invalid;
                var v = await broker.GetVhostAsync(vhost, http.HttpContext.RequestAborted);
                if (v is null) return MissingVhost(vhost, exchange);
                var name = MessageMapping.ExchangeName(exchange);
                if (request.Atomic) broker.Features.Require(BrokerFeature.AtomicBatch, "An atomic batch");
                // Every message is decoded (and its size checked) before any is published: all or nothing for 413.
                var messages = new Message[request.Messages.Count];
                string? routingKey = null;
                for (var i = 0; i < messages.Length; i++)
                {
                    var entry = request.Messages[i];
                    // Messages of a batch usually share their routing key: keep one string for all that the queues hold.
                    if (entry.RoutingKey == routingKey) entry.RoutingKey = routingKey;
                    else routingKey = entry.RoutingKey;
                    if (MessageMapping.ToMessage(name, entry, limits.Value.MaxMessageBytes) is not { } message)
                        return Problems.TooLarge($"Message {i} is larger than {limits.Value.MaxMessageBytes} bytes (Gateway:Limits:MaxMessageBytes); nothing was published.");
                    RequireDelayFeature(broker, message);
                    messages[i] = message;
                }
                var mandatory = request.Messages.ConvertAll(m => m.Mandatory);
                var batch = await v.PublishBatchAsync(name, messages, mandatory, request.Atomic, http.HttpContext.RequestAborted);
                if (batch.Outcomes is not { } outcomes) return AtomicRefusal(batch.Refusal, batch.RefusedIndex, vhost, exchange, request.Messages);
                var results = new List<PublishResult>(outcomes.Count);
                for (var i = 0; i < outcomes.Count; i++) results.Add(PublishAnswer.For(outcomes[i], mandatory[i]).Value);
                return TypedResults.Ok(new BatchPublishResponse { Results = results });
            })
            .Accepts<BatchPublishRequest>("application/json")
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .WithName("PublishBatch").WithSummary("Publish several messages")
            .WithDescription("All messages are validated first: one invalid message refuses the whole batch and nothing is published. " +
                             "Then each is published in order and answered by one confirm, in order; a mandatory message that no queue took has " +
                             "returned=true; one a full reject-publish queue refused has rejected=true. With atomic=true the batch is one " +
                             "transaction: a mandatory message no queue would take (422) or a message a full reject-publish queue would refuse (409) " +
                             "refuses the whole batch before anything is published, and the persistent messages commit in one journal transaction. " + MemoryAlarmNote)
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        publish.MapPost("/messages", async Task<Results<PublishAnswer, ProblemHttpResult>> (string vhost, string exchange, string? routingKey,
                bool? mandatory, HttpRequest http, IBroker broker, IOptions<GatewayLimitsOptions> limits, MemoryAlarm memory) =>
            {
                if (memory.Refusal(http.HttpContext) is { } alarm) return alarm;
                var v = await broker.GetVhostAsync(vhost, http.HttpContext.RequestAborted);
                if (v is null) return MissingVhost(vhost, exchange);
                routingKey ??= "";
                if (Names.ValidateRoutingKey(routingKey) is { } keyError) return Problems.BadRequest($"'routingKey' {keyError}.");
                var max = limits.Value.MaxMessageBytes;
                if (http.ContentLength > max) return TooLarge(limits.Value);
                var properties = RawHeaders.Read(http.Headers, out var headerError);
                if ((headerError ?? HeaderLimits.Check(properties.Headers, limits.Value)) is { } invalidHeaders) return Problems.BadRequest(invalidHeaders);
                var body = await ReadBodyAsync(http.BodyReader, max, http.HttpContext.RequestAborted);
                if (body is null) return TooLarge(limits.Value);
                var name = MessageMapping.ExchangeName(exchange);
                var message = new Message(name, routingKey, properties, body);
                RequireDelayFeature(broker, message);
                var outcome = await v.PublishAsync(name, message, http.HttpContext.RequestAborted);
                if (Refusal(outcome, vhost, exchange) is { } refused) return refused;
                if (outcome.Rejected > 0) return PublishRefusals.Rejected(outcome);
                if (!outcome.Routed && mandatory == true)
                    return Problems.Unroutable($"The message is mandatory and no queue took it from exchange '{exchange}' with routing key '{routingKey}'.");
                return PublishAnswer.For(outcome, mandatory == true);
            })
            .Accepts<byte[]>("application/octet-stream", "*/*")
            .Requires(Permission.Write, "exchange")
            .WithName("PublishRaw").WithSummary("Publish a raw body as the payload")
            .WithDescription("The body is the payload, byte for byte. Content-Type and Content-Encoding become the message's; other properties come " +
                             "from Amqp-Delivery-Mode, Amqp-Priority, Amqp-Correlation-Id, Amqp-Reply-To, Amqp-Expiration, Amqp-Message-Id, " +
                             "Amqp-Timestamp, Amqp-Type, Amqp-User-Id, Amqp-App-Id, and Amqp-Header-{name} for application headers (string values). " +
                             "Values are percent-decoded (Amqp-Header-x-delay is read as a number of milliseconds). mandatory=true answers 422 " +
                             "when no queue takes the message; a full reject-publish queue answers 409 as in Publish. " + MemoryAlarmNote)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
    }

    private const string MemoryAlarmNote = "While the memory alarm is raised (memory above Gateway:Limits:MemoryHighWatermarkBytes), answers 503 " +
                                           "with Retry-After (type urn:gateway:problem:memory-alarm) and publishes nothing.";

    /// <summary>
    /// The singletons the single publish uses, taken from the application's container once, on the first publish, rather
    /// than as endpoint parameters from the request's: a request that asks its container for nothing gets no service
    /// scope (~0.3 KB, and its disposal, per request).
    /// </summary>
    private sealed class HotServices(IServiceProvider root)
    {
        private Resolved? _resolved;

        public Resolved Get() => _resolved ??= new Resolved(root.GetRequiredService<IBroker>(), root.GetRequiredService<IValidator<PublishRequest>>(),
            JsonBody.TypeInfo<PublishRequest>(root.GetRequiredService<IOptions<JsonOptions>>()), root.GetRequiredService<IOptions<GatewayLimitsOptions>>().Value,
            root.GetRequiredService<Access>(), root.GetRequiredService<MemoryAlarm>());
    }

    private sealed record Resolved(IBroker Broker, IValidator<PublishRequest> Validator, JsonTypeInfo<PublishRequest> Type, GatewayLimitsOptions Limits,
        Access Access, MemoryAlarm Memory);

    private static JsonTypeInfo<BatchPublishRequest>? BatchType;

    // A missing vhost or exchange is 404 unless its name breaks the naming rule (400): checked only on that path.
    private static ProblemHttpResult MissingVhost(string vhost, string exchange) =>
        RouteNamesFilter.Invalid("vhost", vhost) ?? RouteNamesFilter.Invalid("exchange", exchange) ?? Problems.NotFound($"No vhost '{vhost}'.");

    // A delayed message (x-delay) needs a backend that can hold it back; the others refuse it, naming themselves.
    private static void RequireDelayFeature(IBroker broker, Message message)
    {
        if (!broker.Features.Has(BrokerFeature.DelayedDelivery) && message.Properties.Headers is { } headers && headers.ContainsKey(Message.DelayHeader))
            broker.Features.Require(BrokerFeature.DelayedDelivery, "A delayed message (header x-delay)");
    }

    private static ProblemHttpResult? Refusal(PublishOutcome outcome, string vhost, string exchange) => outcome.Status switch
    {
        PublishStatus.ExchangeNotFound => RouteNamesFilter.Invalid("exchange", exchange) ?? Problems.NotFound($"No exchange '{exchange}' in vhost '{vhost}'."),
        PublishStatus.ExchangeInternal => Problems.Forbidden($"Exchange '{exchange}' is internal: only other exchanges may route to it."),
        _ => null,
    };

    private static ProblemHttpResult AtomicRefusal(BatchRefusal refusal, int index, string vhost, string exchange, List<PublishRequest> requests) => refusal switch
    {
        BatchRefusal.Unroutable => Problems.Unroutable(
            $"Message {index} is mandatory and no queue would take it (routing key '{requests[index].RoutingKey}'); the atomic batch was not published."),
        BatchRefusal.QueueFull => Problems.Problem(StatusCodes.Status409Conflict, "rejected",
            $"Message {index} would be refused by a full queue (x-overflow reject-publish); the atomic batch was not published."),
        BatchRefusal.ExchangeInternal => Problems.Forbidden($"Exchange '{exchange}' is internal: only other exchanges may route to it."),
        _ => RouteNamesFilter.Invalid("exchange", exchange) ?? Problems.NotFound($"No exchange '{exchange}' in vhost '{vhost}'."),
    };

    private static ProblemHttpResult TooLarge(GatewayLimitsOptions limits) =>
        Problems.TooLarge($"The message is larger than {limits.MaxMessageBytes} bytes (Gateway:Limits:MaxMessageBytes).");

    // Reads the whole body, or returns null once it exceeds `max` bytes.
    private static async Task<byte[]?> ReadBodyAsync(PipeReader reader, int max, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (buffer.Length > max)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                return null;
            }
            if (result.IsCompleted)
            {
                var body = buffer.ToArray();
                reader.AdvanceTo(buffer.End);
                return body;
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}
