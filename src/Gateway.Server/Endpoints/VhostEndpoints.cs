using Gateway.Broker;
using Gateway.Server.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Endpoints;

internal static class VhostEndpoints
{
    public static void MapVhostEndpoints(this RouteGroupBuilder api)
    {
        var vhosts = api.MapGroup("/vhosts").WithTags("Vhosts");

        vhosts.MapGet("", (MessageBroker broker) =>
                TypedResults.Ok(broker.ListVhosts().Select(v => new VhostInfo { Name = v.Name }).ToList()))
            .WithName("ListVhosts").WithSummary("List vhosts");

        vhosts.MapGet("/{vhost}", (string vhost, MessageBroker broker) =>
                TypedResults.Ok(new VhostInfo { Name = broker.RequireVhost(vhost).Name }))
            .WithName("GetVhost").WithSummary("Read a vhost").ProducesProblem(StatusCodes.Status404NotFound);

        vhosts.MapPut("/{vhost}", Results<Created<VhostInfo>, Ok<VhostInfo>> (string vhost, MessageBroker broker) =>
            {
                var info = new VhostInfo { Name = vhost };
                return broker.CreateVhost(vhost) ? TypedResults.Created($"/api/vhosts/{Uri.EscapeDataString(vhost)}", info) : TypedResults.Ok(info);
            })
            .WithName("CreateVhost").WithSummary("Create a vhost (idempotent)")
            .WithDescription("Answers 201 when created, 200 when it already existed.");

        vhosts.MapDelete("/{vhost}", (string vhost, MessageBroker broker) =>
            {
                broker.DeleteVhost(vhost);
                return TypedResults.NoContent();
            })
            .WithName("DeleteVhost").WithSummary("Delete a vhost with everything in it")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status403Forbidden);
    }
}
