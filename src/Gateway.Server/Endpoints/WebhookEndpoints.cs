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

        webhooks.MapGet("", async (string vhost, string queue, IBroker broker, WebhookDispatcher dispatcher, HttpContext http) =>
            {
                var q = await RequireQueueAsync(broker, vhost, queue, http.RequestAborted);
                var infos = new List<WebhookInfo>();
                foreach (var webhook in dispatcher.List(q)) infos.Add(await ToInfoAsync(webhook));
                return TypedResults.Ok(infos);
            })
            .RequiresVhostAccess()
            .WithName("ListWebhooks").WithSummary("List a queue's webhooks with their status");

        webhooks.MapGet("/{name}", async (string vhost, string queue, string name, IBroker broker, WebhookDispatcher dispatcher, HttpContext http) =>
                TypedResults.Ok(await ToInfoAsync(await RequireWebhookAsync(broker, dispatcher, vhost, queue, name, http.RequestAborted))))
            .RequiresVhostAccess()
            .WithName("GetWebhook").WithSummary("Read a webhook with its status")
            .WithDescription("Status: state (active, paused, disabled), counts of delivered, retried and failed since the gateway started, " +
                             "messages in flight, the queue's backlog, lag, the last error and the recent failed attempts. Secrets are never shown.");

        webhooks.MapPut("/{name}", async Task<Results<Created<WebhookInfo>, Ok<WebhookInfo>>> (string vhost, string queue, string name,
                WebhookRequest request, IBroker broker, WebhookDispatcher dispatcher, HttpContext http) =>
            {
                broker.Features.Require(BrokerFeature.Webhooks, "A webhook");
                var q = await RequireQueueAsync(broker, vhost, queue, http.RequestAborted);
                var (webhook, created) = await dispatcher.PutAsync(q, name, request);
                var info = await ToInfoAsync(webhook);
                return created
                    ? TypedResults.Created($"/api/vhosts/{Uri.EscapeDataString(vhost)}/queues/{Uri.EscapeDataString(queue)}/webhooks/{Uri.EscapeDataString(name)}", info)
                    : TypedResults.Ok(info);
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
                IBroker broker, WebhookDispatcher dispatcher, HttpContext http) =>
            {
                var q = await RequireQueueAsync(broker, vhost, queue, http.RequestAborted);
                return await dispatcher.DeleteAsync(q, name) ? TypedResults.NoContent() : NotFound(vhost, queue, name);
            })
            .Requires(Permission.Configure, "queue").Requires(Permission.Read, "queue")
            .WithName("DeleteWebhook").WithSummary("Delete a webhook")
            .WithDescription("Deliveries in flight are abandoned and their messages return to the queue.");

        webhooks.MapPost("/{name}/enable", async Task<Results<Ok<WebhookInfo>, ProblemHttpResult>> (string vhost, string queue, string name,
                IBroker broker, WebhookDispatcher dispatcher, HttpContext http) =>
            {
                var q = await RequireQueueAsync(broker, vhost, queue, http.RequestAborted);
                return await dispatcher.EnableAsync(q, name) is { } webhook ? TypedResults.Ok(await ToInfoAsync(webhook)) : NotFound(vhost, queue, name);
            })
            .Requires(Permission.Configure, "queue").Requires(Permission.Read, "queue")
            .WithName("EnableWebhook").WithSummary("Re-enable a webhook disabled by a 410 answer (or paused), and resume delivering");

        webhooks.MapPost("/{name}/redrive", async Task<Results<Ok<RedriveResult>, ProblemHttpResult>> (string vhost, string queue, string name,
                RedriveRequest request, IBroker broker, WebhookDispatcher dispatcher, HttpContext http, Access access) =>
            {
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                var q = await RequireQueueAsync(broker, vhost, queue, http.RequestAborted);
                if (dispatcher.Get(q, name) is null) return NotFound(vhost, queue, name);
                // Taking from 'from' needs read there; publishing through the default exchange needs write on it.
                if ((access.Check(http, vhost, Permission.Read, request.From) ?? access.Check(http, vhost, Permission.Write, Names.DefaultExchangeAlias))
                    is { } denied) return denied;
                var source = await v.RequireQueueAsync(request.From, http.RequestAborted);
                source.RequireAccess(null);
                return TypedResults.Ok(new RedriveResult { Moved = await WebhookDispatcher.RedriveAsync(v, source, q, request.Max) });
            })
            .Validate<RedriveRequest>()
            .Requires(Permission.Read, "queue")
            .WithName("RedriveWebhook").WithSummary("Move messages from another queue (e.g. the dead-letter queue) back to the webhook's queue")
            .WithDescription("Takes up to 'max' ready messages from 'from' and publishes each, with its properties and payload, to the end of " +
                             "the webhook's queue through the default exchange; each leaves 'from' once its copy is confirmed.");
    }

    // An exclusive queue belongs to its connection: no webhook may consume it (409 resource-locked).
    private static async ValueTask<IBrokerQueue> RequireQueueAsync(IBroker broker, string vhost, string queue, CancellationToken cancellationToken)
    {
        var q = await (await broker.RequireVhostAsync(vhost, cancellationToken)).RequireQueueAsync(queue, cancellationToken);
        q.RequireAccess(null);
        return q;
    }

    private static async ValueTask<WebhookSubscription> RequireWebhookAsync(IBroker broker, WebhookDispatcher dispatcher, string vhost, string queue, string name,
        CancellationToken cancellationToken) =>
        dispatcher.Get(await RequireQueueAsync(broker, vhost, queue, cancellationToken), name)
        ?? throw new BrokerException(BrokerError.NotFound, $"No webhook '{name}' on queue '{queue}' in vhost '{vhost}'.");

    private static ProblemHttpResult NotFound(string vhost, string queue, string name) =>
        Problems.NotFound($"No webhook '{name}' on queue '{queue}' in vhost '{vhost}'.");

    private static async ValueTask<WebhookInfo> ToInfoAsync(WebhookSubscription webhook)
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
            Durable = webhook.Queue.Definition.Durable,
            Status = await webhook.StatusAsync(),
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
