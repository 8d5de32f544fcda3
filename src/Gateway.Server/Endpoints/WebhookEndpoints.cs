using Gateway.Broker;
using Gateway.Broker.Queues;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Server.Security;
using Gateway.Server.Validation;
using Gateway.Server.Webhooks;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Endpoints;

/// <summary>Webhook subscriptions of a queue: <c>/api/vhosts/{vhost}/queues/{queue}/webhooks[/{name}]</c>.</summary>
internal static class WebhookEndpoints
{
    public static void MapWebhookEndpoints(this RouteGroupBuilder api)
    {
        var webhooks = api.MapGroup("/vhosts/{vhost}/queues/{queue}/webhooks").WithTags("Webhooks")
            .AddEndpointFilter<WebhookNameFilter>()
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);

        webhooks.MapGet("", (string vhost, string queue, MessageBroker broker, WebhookDispatcher dispatcher) =>
            {
                var q = RequireQueue(broker, vhost, queue);
                return TypedResults.Ok(dispatcher.List(q).Select(ToInfo).ToList());
            })
            .RequiresVhostAccess()
            .WithName("ListWebhooks").WithSummary("List a queue's webhooks with their status");

        webhooks.MapGet("/{name}", (string vhost, string queue, string name, MessageBroker broker, WebhookDispatcher dispatcher) =>
                TypedResults.Ok(ToInfo(RequireWebhook(broker, dispatcher, vhost, queue, name))))
            .RequiresVhostAccess()
            .WithName("GetWebhook").WithSummary("Read a webhook with its status")
            .WithDescription("Status: state (active, paused, disabled), counts of delivered, retried and failed since the gateway started, " +
                             "messages in flight, the queue's backlog, lag, the last error and the recent failed attempts. Secrets are never shown.");

        webhooks.MapPut("/{name}", async Task<Results<Created<WebhookInfo>, Ok<WebhookInfo>>> (string vhost, string queue, string name,
                WebhookRequest request, MessageBroker broker, WebhookDispatcher dispatcher) =>
            {
                var q = RequireQueue(broker, vhost, queue);
                var (webhook, created) = await dispatcher.PutAsync(q, name, request);
                return created
                    ? TypedResults.Created($"/api/vhosts/{Uri.EscapeDataString(vhost)}/queues/{Uri.EscapeDataString(queue)}/webhooks/{Uri.EscapeDataString(name)}", ToInfo(webhook))
                    : TypedResults.Ok(ToInfo(webhook));
            })
            .Validate<WebhookRequest>()
            .Requires(Permission.Configure, "queue").Requires(Permission.Read, "queue")
            .WithName("PutWebhook").WithSummary("Create or replace a webhook: the queue's messages are POSTed to its URL")
            .WithDescription("201 when created, 200 when replaced (a changed definition restarts it: deliveries in flight return to the queue) or unchanged. " +
                             "A 2xx answer acknowledges a message; 408, 425, 429, 5xx, timeouts and connection errors are retried with exponential backoff " +
                             "and full jitter (Retry-After honoured); 410 disables the webhook; other 4xx and exhausted retries reject the message " +
                             "(dead-lettered when the queue has a dead-letter exchange). Requests carry webhook-id, webhook-timestamp and, with a " +
                             "secret, webhook-signature (Standard Webhooks). Addresses that are not public are refused unless allowed in " +
                             "Gateway:Webhooks:AllowedNetworks. Kept with the topology when the queue is durable.");

        webhooks.MapDelete("/{name}", async Task<Results<NoContent, ProblemHttpResult>> (string vhost, string queue, string name,
                MessageBroker broker, WebhookDispatcher dispatcher) =>
            {
                var q = RequireQueue(broker, vhost, queue);
                return await dispatcher.DeleteAsync(q, name) ? TypedResults.NoContent() : NotFound(vhost, queue, name);
            })
            .Requires(Permission.Configure, "queue").Requires(Permission.Read, "queue")
            .WithName("DeleteWebhook").WithSummary("Delete a webhook")
            .WithDescription("Deliveries in flight are abandoned and their messages return to the queue.");

        webhooks.MapPost("/{name}/enable", async Task<Results<Ok<WebhookInfo>, ProblemHttpResult>> (string vhost, string queue, string name,
                MessageBroker broker, WebhookDispatcher dispatcher) =>
            {
                var q = RequireQueue(broker, vhost, queue);
                return await dispatcher.EnableAsync(q, name) is { } webhook ? TypedResults.Ok(ToInfo(webhook)) : NotFound(vhost, queue, name);
            })
            .Requires(Permission.Configure, "queue").Requires(Permission.Read, "queue")
            .WithName("EnableWebhook").WithSummary("Re-enable a webhook disabled by a 410 answer (or paused), and resume delivering");

        webhooks.MapPost("/{name}/redrive", async Task<Results<Ok<RedriveResult>, ProblemHttpResult>> (string vhost, string queue, string name,
                RedriveRequest request, MessageBroker broker, WebhookDispatcher dispatcher, HttpContext http, Access access) =>
            {
                var v = broker.RequireVhost(vhost);
                var q = RequireQueue(broker, vhost, queue);
                if (dispatcher.Get(q, name) is null) return NotFound(vhost, queue, name);
                // Taking from 'from' needs read there; publishing through the default exchange needs write on it.
                if ((access.Check(http, vhost, Permission.Read, request.From) ?? access.Check(http, vhost, Permission.Write, Names.DefaultExchangeAlias))
                    is { } denied) return denied;
                var source = v.GetQueue(request.From) ?? throw new BrokerException(BrokerError.NotFound, $"No queue '{request.From}' in vhost '{vhost}'.");
                source.RequireAccess(null);
                return TypedResults.Ok(new RedriveResult { Moved = await WebhookDispatcher.RedriveAsync(source, q, request.Max) });
            })
            .Validate<RedriveRequest>()
            .Requires(Permission.Read, "queue")
            .WithName("RedriveWebhook").WithSummary("Move messages from another queue (e.g. the dead-letter queue) back to the webhook's queue")
            .WithDescription("Takes up to 'max' ready messages from 'from' and publishes each, with its properties and payload, to the end of " +
                             "the webhook's queue through the default exchange; each leaves 'from' once its copy is confirmed.");
    }

    // An exclusive queue belongs to its connection: no webhook may consume it (409 resource-locked).
    private static MessageQueue RequireQueue(MessageBroker broker, string vhost, string queue)
    {
        var q = broker.RequireVhost(vhost).GetQueue(queue) ?? throw new BrokerException(BrokerError.NotFound, $"No queue '{queue}' in vhost '{vhost}'.");
        q.RequireAccess(null);
        return q;
    }

    private static WebhookSubscription RequireWebhook(MessageBroker broker, WebhookDispatcher dispatcher, string vhost, string queue, string name) =>
        dispatcher.Get(RequireQueue(broker, vhost, queue), name)
        ?? throw new BrokerException(BrokerError.NotFound, $"No webhook '{name}' on queue '{queue}' in vhost '{vhost}'.");

    private static ProblemHttpResult NotFound(string vhost, string queue, string name) =>
        Problems.NotFound($"No webhook '{name}' on queue '{queue}' in vhost '{vhost}'.");

    private static WebhookInfo ToInfo(WebhookSubscription webhook)
    {
        var d = webhook.Definition;
        return new WebhookInfo
        {
            Name = webhook.Key.Name,
            Vhost = webhook.Key.Vhost,
            Queue = webhook.Key.Queue,
            Url = d.Url,
            HasSecret = d.Secret is not null,
            PreviousSecretExpiresAt = d.PreviousSecretExpiresAt,
            Concurrency = d.Concurrency,
            TimeoutMilliseconds = d.TimeoutMilliseconds,
            Retry = d.RetryPolicy(),
            Format = d.Format,
            Enabled = d.Enabled,
            Durable = webhook.Queue.DurableId != 0,
            Status = webhook.Status(),
        };
    }

    /// <summary>Checks the webhook name in the URL against the naming rule of vhosts, exchanges and queues; 400 on failure.</summary>
    private sealed class WebhookNameFilter : IEndpointFilter
    {
        public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
        {
            if (context.HttpContext.Request.RouteValues.TryGetValue("name", out var raw) && raw is string name
                && RouteNamesFilter.Invalid("webhook", name) is { } problem)
                return ValueTask.FromResult<object?>(problem);
            return next(context);
        }
    }
}
