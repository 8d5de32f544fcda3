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

        queues.MapGet("", (string vhost, MessageBroker broker) =>
                TypedResults.Ok(broker.RequireVhost(vhost).ListQueues().Select(ToInfo).ToList()))
            .RequiresVhostAccess()
            .WithName("ListQueues").WithSummary("List queues with their counts").ProducesProblem(StatusCodes.Status404NotFound);

        queues.MapGet("/{queue}", Results<Ok<QueueInfo>, ProblemHttpResult> (string vhost, string queue, MessageBroker broker) =>
                broker.RequireVhost(vhost).GetQueue(queue) is { } q ? TypedResults.Ok(ToInfo(q)) : Problems.NotFound($"No queue '{queue}' in vhost '{vhost}'."))
            .RequiresVhostAccess()
            .WithName("GetQueue").WithSummary("Read a queue with its counts").ProducesProblem(StatusCodes.Status404NotFound);

        queues.MapPut("/{queue}", Results<Created<QueueInfo>, Ok<QueueInfo>> (string vhost, string queue, QueueDeclareRequest? request, MessageBroker broker) =>
            {
                request ??= new QueueDeclareRequest();
                var (q, outcome) = broker.RequireVhost(vhost).DeclareQueue(ToDefinition(queue, request));
                return outcome == DeclareOutcome.Created
                    ? TypedResults.Created(Location(vhost, q.Name), ToInfo(q))
                    : TypedResults.Ok(ToInfo(q));
            })
            .Validate<QueueDeclareRequest>()
            .Requires(Permission.Configure, "queue")
            .WithName("DeclareQueue").WithSummary("Declare a queue (idempotent)")
            .WithDescription("The body is optional (defaults: durable, not exclusive, not auto-delete). 201 when created; 200 when an " +
                             "equivalent queue exists; 409 when one exists with a different definition (nothing changes); 403 for names starting with 'amq.'.")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);

        queues.MapPost("", Results<Created<QueueInfo>, ProblemHttpResult> (string vhost, QueueDeclareRequest? request, MessageBroker broker, HttpContext http, Access access) =>
            {
                // The name is chosen by the server: configure permission on the amq.gen- prefix it uses.
                if (access.Check(http, vhost, Permission.Configure, "amq.gen-") is { } denied) return denied;
                var q = broker.RequireVhost(vhost).DeclareServerNamedQueue(ToDefinition("", request ?? new QueueDeclareRequest()));
                return TypedResults.Created(Location(vhost, q.Name), ToInfo(q));
            })
            .Validate<QueueDeclareRequest>()
            .WithName("DeclareServerNamedQueue").WithSummary("Declare a queue with a server-chosen name (amq.gen-…)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        queues.MapDelete("/{queue}", (string vhost, string queue, bool? ifUnused, bool? ifEmpty, MessageBroker broker) =>
            {
                var v = broker.RequireVhost(vhost);
                v.GetQueue(queue)?.RequireAccess(null);
                v.DeleteQueue(queue, ifUnused ?? false, ifEmpty ?? false);
                return TypedResults.NoContent();
            })
            .Requires(Permission.Configure, "queue")
            .WithName("DeleteQueue").WithSummary("Delete a queue with its messages and bindings")
            .WithDescription("ifUnused=true refuses (409) while it has consumers; ifEmpty=true refuses (409) while it has ready messages.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);

        queues.MapDelete("/{queue}/messages", async Task<Results<Ok<PurgeResult>, ProblemHttpResult>> (string vhost, string queue, MessageBroker broker) =>
                broker.RequireVhost(vhost).GetQueue(queue) is { } q
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
    private static MessageQueue Owned(MessageQueue q)
    {
        q.RequireAccess(null);
        return q;
    }

    public static QueueInfo ToInfo(MessageQueue q)
    {
        int ready = q.MessagesReady, unacked = q.MessagesUnacknowledged, delayed = q.MessagesDelayed;
        var bytes = q.MessageBytesReady;
        return new QueueInfo
        {
            Name = q.Name,
            Vhost = q.VirtualHost.Name,
            Durable = q.Definition.Durable,
            Exclusive = q.Definition.Exclusive,
            AutoDelete = q.Definition.AutoDelete,
            Arguments = q.Definition.Arguments ?? new Dictionary<string, object?>(),
            Messages = ready + unacked + delayed,
            MessagesReady = ready,
            MessagesUnacknowledged = unacked,
            MessagesDelayed = delayed,
            MessageBytesReady = bytes,
            MessageBytes = bytes,
            OldestReadyAgeSeconds = q.OldestReadyAge?.TotalSeconds,
            Consumers = q.ConsumerCount,
            Rates = MessageRatesInfo.From(q.Statistics.Rates),
        };
    }
}
