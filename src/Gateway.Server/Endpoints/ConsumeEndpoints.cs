using Gateway.Broker;
using Gateway.Broker.Queues;
using Gateway.Server.Capacity;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Endpoints;

internal static class ConsumeEndpoints
{
    public static void MapConsumeEndpoints(this RouteGroupBuilder api)
    {
        // Get, consume, ack, nack and lease extension: read permission on the queue (as RabbitMQ's basic.get/consume).
        var queues = api.MapGroup("/vhosts/{vhost}/queues/{queue}").WithTags("Consuming").Requires(Permission.Read, "queue")
            .ProducesProblem(StatusCodes.Status403Forbidden);

        queues.MapPost("/get", async (string vhost, string queue, GetRequest? request, IBroker broker,
                IHostApplicationLifetime lifetime, HttpContext http, LongPollWaiters waiters) =>
            {
                request ??= new GetRequest();
                var q = await RequireQueueAsync(broker, vhost, queue, http.RequestAborted);
                var deliveries = await PullAsync(q, request.Max, request.WaitSeconds, request.LeaseSeconds, lifetime, http, waiters);
                return new DeliveryListResult(q, deliveries, request.AckMode);
            })
            .Validate<GetRequest>()
            .WithName("Get").WithSummary("Pull messages, long-polling while the queue is empty")
            .WithDescription("Answers up to 'max' deliveries at once when messages are ready; otherwise waits up to 'waitSeconds' for the " +
                             "first and answers what arrived (an empty list when nothing did, or when the server is shutting down). " +
                             "Manual deliveries are leased for 'leaseSeconds': unless acked, nacked or extended by then, they return to the queue. " +
                             "If the client goes away before the answer is written, the messages return to the queue at once. " + WaitersNote)
            .ProducesProblem(StatusCodes.Status404NotFound);

        // ackMode is bound as a string: minimal APIs parse an enum query value by its C# name ("Auto"), not by the
        // API's name ("auto"), so an AckMode parameter would refuse the documented values.
        queues.MapPost("/messages/next", async (string vhost, string queue, int? wait, string? ackMode, int? leaseSeconds,
                IBroker broker, IHostApplicationLifetime lifetime, HttpContext http, LongPollWaiters waiters) =>
            {
                var q = await RequireQueueAsync(broker, vhost, queue, http.RequestAborted);
                var waitSeconds = wait ?? 0;
                var lease = leaseSeconds ?? Limits.DefaultLeaseSeconds;
                if (waitSeconds is < 0 or > Limits.MaxWaitSeconds)
                    throw new BrokerException(BrokerError.InvalidArgument, $"'wait' must be from 0 to {Limits.MaxWaitSeconds} seconds.");
                if (lease is < 1 or > Limits.MaxLeaseSeconds)
                    throw new BrokerException(BrokerError.InvalidArgument, $"'leaseSeconds' must be from 1 to {Limits.MaxLeaseSeconds}.");
                var mode = AckModes.Parse(ackMode);
                var deliveries = await PullAsync(q, 1, waitSeconds, lease, lifetime, http, waiters);
                return new RawDeliveryResult(q, deliveries, mode);
            })
            .AddOpenApiOperationTransformer((operation, context, _) =>
            {
                // Document the string parameter as the AckMode enum it stands for.
                if (operation.Parameters?.FirstOrDefault(p => p.Name == "ackMode") is Microsoft.OpenApi.OpenApiParameter parameter)
                    parameter.Schema = new Microsoft.OpenApi.OpenApiSchemaReference(nameof(AckMode), context.Document);
                return Task.CompletedTask;
            })
            .WithName("GetRawNext").WithSummary("Pull one message as a raw body")
            .WithDescription("The body is the payload; the delivery tag, redelivered flag, delivery count, exchange, routing key and " +
                             "properties come as Amqp-* headers (see PublishRaw). 204 when no message arrived within 'wait' seconds. " + WaitersNote)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);

        queues.MapPost("/ack", async (string vhost, string queue, AckRequest request, IBroker broker, HttpContext http) =>
            {
                await (await RequireQueueAsync(broker, vhost, queue, http.RequestAborted)).AckAsync(ParseTags(request.DeliveryTags));
                return TypedResults.NoContent();
            })
            .Validate<AckRequest>()
            .WithName("Ack").WithSummary("Acknowledge deliveries")
            .WithDescription("All or none: if any tag is unknown (404) or its lease expired (410), nothing is acknowledged.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status410Gone);

        queues.MapPost("/nack", async (string vhost, string queue, NackRequest request, IBroker broker, HttpContext http) =>
            {
                var delay = request.DelayMilliseconds is > 0 and var ms ? TimeSpan.FromMilliseconds(ms) : (TimeSpan?)null;
                if (delay is not null) broker.Features.Require(BrokerFeature.NackWithDelay, "A nack with delayMilliseconds");
                await (await RequireQueueAsync(broker, vhost, queue, http.RequestAborted)).NackAsync(ParseTags(request.DeliveryTags), request.Requeue, delay);
                return TypedResults.NoContent();
            })
            .Validate<NackRequest>()
            .WithName("Nack").WithSummary("Reject deliveries, requeueing them or not")
            .WithDescription("requeue=true (default) puts the messages back at their original positions, marked redelivered (past the queue's " +
                             "x-delivery-limit they are dead-lettered with reason delivery_limit); with delayMilliseconds they stay invisible that long " +
                             "first (retry with backoff). requeue=false dead-letters them (reason rejected) when the queue has x-dead-letter-exchange, " +
                             "else drops them. All or none, as ack.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status410Gone);

        queues.MapPost("/extend", async (string vhost, string queue, ExtendRequest request, IBroker broker, HttpContext http) =>
            {
                broker.Features.Require(BrokerFeature.LeaseExtend, "Extending a lease");
                var q = await RequireQueueAsync(broker, vhost, queue, http.RequestAborted);
                await q.ExtendLeasesAsync(ParseTags(request.DeliveryTags), TimeSpan.FromSeconds(request.LeaseSeconds));
                return TypedResults.NoContent();
            })
            .Validate<ExtendRequest>()
            .WithName("ExtendLeases").WithSummary("Extend the leases of pulled deliveries")
            .WithDescription("Each lease is set to 'leaseSeconds' from now. All or none, as ack.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status410Gone);
    }

    private const string WaitersNote = "When Gateway:Limits:MaxLongPollWaiters polls are waiting already, a poll does not wait: it answers " +
                                       "what is ready, or 503 with Retry-After (type urn:gateway:problem:too-many-waiters) when nothing is.";

    // An exclusive queue is its WebSocket connection's: plain HTTP requests get 409 resource-locked.
    private static async ValueTask<IBrokerQueue> RequireQueueAsync(IBroker broker, string vhost, string queue, CancellationToken cancellationToken)
    {
        var q = await (await broker.RequireVhostAsync(vhost, cancellationToken)).RequireQueueAsync(queue, cancellationToken);
        q.RequireAccess(null);
        return q;
    }

    private static List<DeliveryTag> ParseTags(List<string> tags) =>
        tags.Select(t => DeliveryTag.TryParse(t, out var tag) ? tag : throw new BrokerException(BrokerError.InvalidArgument, $"'{t}' is not a delivery tag.")).ToList();

    // Client gone while waiting: the engine puts back anything handed over and the cancellation propagates (nothing is
    // written). Server shutting down: an empty answer, so that clients retry elsewhere or later. Every place for a
    // waiting poll taken (Gateway:Limits:MaxLongPollWaiters): no wait; what is ready, or 503 with Retry-After.
    private static async Task<IReadOnlyList<Delivery>> PullAsync(IBrokerQueue queue, int max, int waitSeconds, int leaseSeconds,
        IHostApplicationLifetime lifetime, HttpContext http, LongPollWaiters waiters)
    {
        var waits = waitSeconds > 0;
        if (waits && !waiters.TryEnter())
        {
            var ready = await queue.GetAsync(max, TimeSpan.Zero, TimeSpan.FromSeconds(leaseSeconds), http.RequestAborted);
            if (ready.Count > 0) return ready;
            throw new CapacityException(StatusCodes.Status503ServiceUnavailable, "too-many-waiters",
                $"{waiters.Max} long polls are waiting already, the most allowed (Gateway:Limits:MaxLongPollWaiters), and no message is ready; " +
                $"retry after {LongPollWaiters.RetryAfterSeconds} s.", LongPollWaiters.RetryAfterSeconds);
        }
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        try
        {
            return await queue.GetAsync(max, TimeSpan.FromSeconds(waitSeconds), TimeSpan.FromSeconds(leaseSeconds), cancellation.Token);
        }
        catch (OperationCanceledException) when (!http.RequestAborted.IsCancellationRequested)
        {
            return [];
        }
        finally
        {
            if (waits) waiters.Exit();
        }
    }
}
