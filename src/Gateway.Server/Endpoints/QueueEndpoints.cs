using Gateway.Broker;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Endpoints;

internal static class QueueEndpoints
{
    public static void MapQueueEndpoints(this RouteGroupBuilder api)
    {
        var queues = api.MapGroup("/vhosts/{vhost}/queues").WithTags("Queues");

        queues.MapGet("", async (string vhost, IBroker broker, HttpContext http) =>
            {
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                return TypedResults.Ok((await v.ListQueuesAsync(http.RequestAborted)).Select(q => ToInfo(v.Name, q.Definition, q.Status)).ToList());
            })
            .RequiresVhostAccess()
            .WithName("ListQueues").WithSummary("List queues with their counts").ProducesProblem(StatusCodes.Status404NotFound);

        queues.MapGet("/{queue}", async Task<Results<Ok<QueueInfo>, ProblemHttpResult>> (string vhost, string queue, IBroker broker, HttpContext http) =>
                await (await broker.RequireVhostAsync(vhost, http.RequestAborted)).GetQueueAsync(queue, http.RequestAborted) is { } q
                    ? TypedResults.Ok(await ToInfoAsync(q, http.RequestAborted))
                    : Problems.NotFound($"No queue '{queue}' in vhost '{vhost}'."))
            .RequiresVhostAccess()
            .WithName("GetQueue").WithSummary("Read a queue with its counts").ProducesProblem(StatusCodes.Status404NotFound);

        queues.MapPut("/{queue}", async Task<Results<Created<QueueInfo>, Ok<QueueInfo>>> (string vhost, string queue, QueueDeclareRequest? request, IBroker broker,
                HttpContext http) =>
            {
                request ??= new QueueDeclareRequest();
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                var (q, outcome) = await v.DeclareQueueAsync(ToDefinition(queue, request), cancellationToken: http.RequestAborted);
                var info = await ToInfoAsync(q, http.RequestAborted);
                return outcome == DeclareOutcome.Created
                    ? TypedResults.Created(Location(vhost, q.Name), info)
                    : TypedResults.Ok(info);
            })
            .Validate<QueueDeclareRequest>()
            .Requires(Permission.Configure, "queue")
            .WithName("DeclareQueue").WithSummary("Declare a queue (idempotent)")
            .WithDescription("The body is optional (defaults: durable, not exclusive, not auto-delete). 201 when created; 200 when an " +
                             "equivalent queue exists; 409 when one exists with a different definition (nothing changes); 403 for names starting with 'amq.'.")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);

        queues.MapPost("", async Task<Results<Created<QueueInfo>, ProblemHttpResult>> (string vhost, QueueDeclareRequest? request, IBroker broker, HttpContext http,
                Access access) =>
            {
                // The name is chosen by the server: configure permission on the amq.gen- prefix it uses.
                if (access.Check(http, vhost, Permission.Configure, "amq.gen-") is { } denied) return denied;
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                var q = await v.DeclareServerNamedQueueAsync(ToDefinition("", request ?? new QueueDeclareRequest()), cancellationToken: http.RequestAborted);
                return TypedResults.Created(Location(vhost, q.Name), await ToInfoAsync(q, http.RequestAborted));
            })
            .Validate<QueueDeclareRequest>()
            .WithName("DeclareServerNamedQueue").WithSummary("Declare a queue with a server-chosen name (amq.gen-…)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        queues.MapDelete("/{queue}", async (string vhost, string queue, bool? ifUnused, bool? ifEmpty, IBroker broker, HttpContext http) =>
            {
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                (await v.GetQueueAsync(queue, http.RequestAborted))?.RequireAccess(null);
                await v.DeleteQueueAsync(queue, ifUnused ?? false, ifEmpty ?? false, http.RequestAborted);
                return TypedResults.NoContent();
            })
            .Requires(Permission.Configure, "queue")
            .WithName("DeleteQueue").WithSummary("Delete a queue with its messages and bindings")
            .WithDescription("ifUnused=true refuses (409) while it has consumers; ifEmpty=true refuses (409) while it has ready messages.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);

        queues.MapDelete("/{queue}/messages", async Task<Results<Ok<PurgeResult>, ProblemHttpResult>> (string vhost, string queue, IBroker broker, HttpContext http) =>
                await (await broker.RequireVhostAsync(vhost, http.RequestAborted)).GetQueueAsync(queue, http.RequestAborted) is { } q
                    ? TypedResults.Ok(new PurgeResult { Purged = await Owned(q).PurgeAsync() })
                    : Problems.NotFound($"No queue '{queue}' in vhost '{vhost}'."))
            .Requires(Permission.Read, "queue")
            .WithName("PurgeQueue").WithSummary("Purge a queue's ready messages")
            .WithDescription("Unacknowledged deliveries are not purged: they stay with their consumers.")
            .ProducesProblem(StatusCodes.Status404NotFound);
    }

    private static string Location(string vhost, string queue) =>
        $"/api/vhosts/{Uri.EscapeDataString(vhost)}/queues/{Uri.EscapeDataString(queue)}";

    private static QueueDefinition ToDefinition(string name, QueueDeclareRequest r) =>
        new(name, r.Durable, r.Exclusive, r.AutoDelete, r.Arguments);

    // An exclusive queue is its WebSocket connection's: plain HTTP requests get 409 resource-locked.
    private static IBrokerQueue Owned(IBrokerQueue q)
    {
        q.RequireAccess(null);
        return q;
    }

    public static async ValueTask<QueueInfo> ToInfoAsync(IBrokerQueue q, CancellationToken cancellationToken) =>
        ToInfo(q.Vhost, q.Definition, await q.GetStatusAsync(cancellationToken));

    public static QueueInfo ToInfo(string vhost, QueueDefinition definition, QueueStatus s)
    {
        int ready = s.MessagesReady, unacked = s.MessagesUnacknowledged, delayed = s.MessagesDelayed;
        var bytes = s.MessageBytesReady;
        return new QueueInfo
        {
            Name = definition.Name,
            Vhost = vhost,
            Durable = definition.Durable,
            Exclusive = definition.Exclusive,
            AutoDelete = definition.AutoDelete,
            Arguments = definition.Arguments ?? new Dictionary<string, object?>(),
            Messages = ready + unacked + delayed,
            MessagesReady = ready,
            MessagesUnacknowledged = unacked,
            MessagesDelayed = delayed,
            MessageBytesReady = bytes,
            MessageBytes = bytes,
            OldestReadyAgeSeconds = s.OldestReadyAge?.TotalSeconds,
            Consumers = s.Consumers,
            Rates = MessageRatesInfo.From(s.Rates),
        };
    }
}
