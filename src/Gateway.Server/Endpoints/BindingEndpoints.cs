using Gateway.Broker;
using Gateway.Broker.Topology;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Endpoints;

internal static class BindingEndpoints
{
    public static void MapBindingEndpoints(this RouteGroupBuilder api)
    {
        var bindings = api.MapGroup("/vhosts/{vhost}/bindings").WithTags("Bindings");

        bindings.MapGet("", async (string vhost, IBroker broker, HttpContext http) =>
            {
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                return TypedResults.Ok((await v.ListBindingsAsync(http.RequestAborted)).Select(b => ToInfo(v, b)).ToList());
            })
            .RequiresVhostAccess()
            .WithName("ListBindings").WithSummary("List bindings").ProducesProblem(StatusCodes.Status404NotFound);

        bindings.MapGet("/{id}", async Task<Results<Ok<BindingInfo>, ProblemHttpResult>> (string vhost, string id, IBroker broker, HttpContext http) =>
            {
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                return await v.GetBindingAsync(id, http.RequestAborted) is { } b ? TypedResults.Ok(ToInfo(v, b)) : Problems.NotFound($"No binding '{id}' in vhost '{vhost}'.");
            })
            .RequiresVhostAccess()
            .WithName("GetBinding").WithSummary("Read a binding").ProducesProblem(StatusCodes.Status404NotFound);

        bindings.MapPost("", async Task<Results<Created<BindingInfo>, Ok<BindingInfo>, ProblemHttpResult>> (string vhost, BindingRequest request, IBroker broker,
                HttpContext http, Access access) =>
            {
                if (BindingAccess(access, http, vhost, request.Source, request.Destination) is { } denied) return denied;
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                var type = request.DestinationType == DestinationKind.Queue ? BindingDestinationType.Queue : BindingDestinationType.Exchange;
                var destination = type == BindingDestinationType.Exchange ? MessageMapping.ExchangeName(request.Destination) : request.Destination;
                var (binding, outcome) = await v.BindAsync(new Binding(MessageMapping.ExchangeName(request.Source), destination, type, request.RoutingKey, request.Arguments),
                    http.RequestAborted);
                var info = ToInfo(v, binding);
                return outcome == DeclareOutcome.Created
                    ? TypedResults.Created($"/api/vhosts/{Uri.EscapeDataString(vhost)}/bindings/{binding.Id}", info)
                    : TypedResults.Ok(info);
            })
            .Validate<BindingRequest>()
            .WithName("CreateBinding").WithSummary("Bind an exchange to a queue or exchange (idempotent)")
            .WithDescription("201 with the binding and its stable id when created; 200 with the same id when it already existed; " +
                             "403 for the default exchange (it is bound to every queue implicitly); 404 when the source or destination is missing.")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound);

        bindings.MapDelete("/{id}", async Task<Results<NoContent, ProblemHttpResult>> (string vhost, string id, IBroker broker, HttpContext http, Access access) =>
            {
                var v = await broker.RequireVhostAsync(vhost, http.RequestAborted);
                if (access.Enabled && await v.GetBindingAsync(id, http.RequestAborted) is { } binding
                    && BindingAccess(access, http, vhost, MessageMapping.ApiExchangeName(binding.Source),
                        binding.DestinationType == BindingDestinationType.Exchange ? MessageMapping.ApiExchangeName(binding.Destination) : binding.Destination) is { } denied)
                    return denied;
                await v.UnbindAsync(id, http.RequestAborted);
                return TypedResults.NoContent();
            })
            .RequiresVhostAccess()
            .WithName("DeleteBinding").WithSummary("Unbind")
            .WithDescription("An auto-delete source exchange left without bindings is deleted with it.")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound);
    }

    // RabbitMQ's rule for bind and unbind: write on the destination and read on the source exchange (API names).
    private static ProblemHttpResult? BindingAccess(Access access, HttpContext http, string vhost, string source, string destination) =>
        access.Check(http, vhost, Permission.Write, destination) ?? access.Check(http, vhost, Permission.Read, source);

    private static BindingInfo ToInfo(IBrokerVhost vhost, Binding b) => new()
    {
        Id = b.Id,
        Vhost = vhost.Name,
        Source = MessageMapping.ApiExchangeName(b.Source),
        Destination = b.DestinationType == BindingDestinationType.Exchange ? MessageMapping.ApiExchangeName(b.Destination) : b.Destination,
        DestinationType = b.DestinationType == BindingDestinationType.Queue ? DestinationKind.Queue : DestinationKind.Exchange,
        RoutingKey = b.RoutingKey,
        Arguments = b.Arguments ?? new Dictionary<string, object?>(),
    };
}
