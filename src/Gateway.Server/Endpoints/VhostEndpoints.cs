using Gateway.Broker;
using Gateway.Server.Contracts;
using Gateway.Server.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Endpoints;

internal static class VhostEndpoints
{
    public static void MapVhostEndpoints(this RouteGroupBuilder api)
    {
        var vhosts = api.MapGroup("/vhosts").WithTags("Vhosts");

        vhosts.MapGet("", (MessageBroker broker, HttpContext http, Access access) =>
                TypedResults.Ok(broker.ListVhosts().Where(v => access.CanAccess(http.User, v.Name)).Select(v => new VhostInfo { Name = v.Name }).ToList()))
            .WithName("ListVhosts").WithSummary("List the vhosts the caller has access to");

        vhosts.MapGet("/{vhost}", (string vhost, MessageBroker broker) =>
                TypedResults.Ok(new VhostInfo { Name = broker.RequireVhost(vhost).Name }))
            .RequiresVhostAccess()
            .WithName("GetVhost").WithSummary("Read a vhost").ProducesProblem(StatusCodes.Status404NotFound);

        vhosts.MapPut("/{vhost}", Results<Created<VhostInfo>, Ok<VhostInfo>> (string vhost, MessageBroker broker, HttpContext http, Access access) =>
            {
                var info = new VhostInfo { Name = vhost };
                if (!broker.CreateVhost(vhost)) return TypedResults.Ok(info);
                // As RabbitMQ's management API: the creator gets full permissions in the new vhost.
                if (Access.UserOf(http.User) is { } creator) access.Users.SetPermission(creator, vhost, ".*", ".*", ".*");
                return TypedResults.Created($"/api/vhosts/{Uri.EscapeDataString(vhost)}", info);
            })
            .RequiresTag(Access.Administrator)
            .WithName("CreateVhost").WithSummary("Create a vhost (idempotent)")
            .WithDescription("Answers 201 when created, 200 when it already existed. Administrators only; the creator gets configure, write " +
                             "and read '.*' in the new vhost.");

        vhosts.MapDelete("/{vhost}", (string vhost, MessageBroker broker, UserDirectory users) =>
            {
                broker.DeleteVhost(vhost);
                users.ForgetVhost(vhost);
                return TypedResults.NoContent();
            })
            .RequiresTag(Access.Administrator)
            .WithName("DeleteVhost").WithSummary("Delete a vhost with everything in it")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status403Forbidden);
    }
}
