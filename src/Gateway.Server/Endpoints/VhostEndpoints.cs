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

        vhosts.MapGet("", async (IBroker broker, HttpContext http, Access access) =>
                TypedResults.Ok((await broker.ListVhostsAsync(http.RequestAborted)).Where(v => access.CanAccess(http.User, v)).Select(v => new VhostInfo { Name = v }).ToList()))
            .WithName("ListVhosts").WithSummary("List the vhosts the caller has access to");

        vhosts.MapGet("/{vhost}", async (string vhost, IBroker broker, HttpContext http) =>
                TypedResults.Ok(new VhostInfo { Name = (await broker.RequireVhostAsync(vhost, http.RequestAborted)).Name }))
            .RequiresVhostAccess()
            .WithName("GetVhost").WithSummary("Read a vhost").ProducesProblem(StatusCodes.Status404NotFound);

        vhosts.MapPut("/{vhost}", async Task<Results<Created<VhostInfo>, Ok<VhostInfo>>> (string vhost, IBroker broker, HttpContext http, Access access) =>
            {
                var info = new VhostInfo { Name = vhost };
                if (!await broker.CreateVhostAsync(vhost, http.RequestAborted)) return TypedResults.Ok(info);
                // As RabbitMQ's management API: the creator gets full permissions in the new vhost.
                if (Access.UserOf(http.User) is { } creator) access.Users.SetPermission(creator, vhost, ".*", ".*", ".*");
                return TypedResults.Created($"/api/vhosts/{Uri.EscapeDataString(vhost)}", info);
            })
            .RequiresTag(Access.Administrator)
            .WithName("CreateVhost").WithSummary("Create a vhost (idempotent)")
            .WithDescription("Answers 201 when created, 200 when it already existed. Administrators only; the creator gets configure, write " +
                             "and read '.*' in the new vhost.");

        vhosts.MapDelete("/{vhost}", async (string vhost, IBroker broker, UserDirectory users, HttpContext http) =>
            {
                await broker.DeleteVhostAsync(vhost, http.RequestAborted);
                users.ForgetVhost(vhost);
                return TypedResults.NoContent();
            })
            .RequiresTag(Access.Administrator)
            .WithName("DeleteVhost").WithSummary("Delete a vhost with everything in it")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status403Forbidden);
    }
}
