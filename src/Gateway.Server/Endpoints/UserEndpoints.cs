using Gateway.Broker;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Server.Security;
using Gateway.Server.Validation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Endpoints;

/// <summary>Users, their API keys, vhost permissions and browser tickets.</summary>
internal static class UserEndpoints
{
    public static void MapUserEndpoints(this RouteGroupBuilder api)
    {
        var users = api.MapGroup("/users").WithTags("Users");

        users.MapGet("", (UserDirectory directory) => TypedResults.Ok(directory.ListUsers().Select(ToDto).ToList()))
            .RequiresTag(Access.Administrator)
            .WithName("ListUsers").WithSummary("List users").ProducesProblem(StatusCodes.Status403Forbidden);

        users.MapGet("/{user}", Results<Ok<UserDto>, ProblemHttpResult> (string user, HttpContext http, Access access) =>
            {
                if (SelfOrAdministrator(http, access, user) is { } denied) return denied;
                return access.Users.GetUser(user) is { } info ? TypedResults.Ok(ToDto(info)) : Problems.NotFound($"No user '{user}'.");
            })
            .WithName("GetUser").WithSummary("Read a user (administrators, or the user itself)")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound);

        users.MapPut("/{user}", Results<Created<UserDto>, Ok<UserDto>, ProblemHttpResult> (string user, UserRequest request, UserDirectory directory) =>
            {
                if (Names.Validate(user) is { } nameError) return Problems.BadRequest($"User name {nameError}.");
                if (request.Tags.FirstOrDefault(t => !UserDirectory.KnownTags.Contains(t)) is { } unknown)
                    return Problems.BadRequest($"Unknown tag '{unknown}'; tags are {string.Join(", ", UserDirectory.KnownTags)}.");
                var created = directory.PutUser(user, request.Tags);
                var dto = ToDto(directory.GetUser(user)!);
                return created ? TypedResults.Created($"/api/users/{Uri.EscapeDataString(user)}", dto) : TypedResults.Ok(dto);
            })
            .RequiresTag(Access.Administrator).Validate<UserRequest>()
            .WithName("PutUser").WithSummary("Create a user or set its tags")
            .WithDescription("201 when created, 200 when updated. A new user has no keys and no permissions: add them with CreateKey and SetPermission.")
            .ProducesProblem(StatusCodes.Status403Forbidden);

        users.MapDelete("/{user}", Results<NoContent, ProblemHttpResult> (string user, HttpContext http, UserDirectory directory) =>
            {
                if (Access.UserOf(http.User) == user) return Problems.Problem(StatusCodes.Status409Conflict, "precondition-failed", "You cannot delete yourself.");
                return directory.DeleteUser(user) ? TypedResults.NoContent() : Problems.NotFound($"No user '{user}'.");
            })
            .RequiresTag(Access.Administrator)
            .WithName("DeleteUser").WithSummary("Delete a user with its keys and permissions")
            .WithDescription("Its keys stop working at once; WebSockets opened with them close with code 1008 and event streams end.")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);

        users.MapGet("/{user}/keys", Results<Ok<List<KeyDto>>, ProblemHttpResult> (string user, HttpContext http, Access access) =>
            {
                if (SelfOrAdministrator(http, access, user) is { } denied) return denied;
                if (access.Users.GetUser(user) is null) return Problems.NotFound($"No user '{user}'.");
                return TypedResults.Ok(access.Users.ListKeys(user).Select(ToDto).ToList());
            })
            .WithName("ListKeys").WithSummary("List a user's API keys (ids, never secrets)")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound);

        users.MapPost("/{user}/keys", Results<Created<CreatedKeyDto>, ProblemHttpResult> (string user, KeyRequest? request, HttpContext http, Access access, TimeProvider time) =>
            {
                if (SelfOrAdministrator(http, access, user) is { } denied) return denied;
                if (access.Users.GetUser(user) is null) return Problems.NotFound($"No user '{user}'.");
                if (request?.ExpiresAt is { } expires && expires <= time.GetUtcNow()) return Problems.BadRequest("'expiresAt' must be in the future.");
                var (info, text) = access.Users.CreateKey(user, request?.Description, request?.ExpiresAt);
                return TypedResults.Created($"/api/users/{Uri.EscapeDataString(user)}/keys/{info.Id}", new CreatedKeyDto { Info = ToDto(info), Key = text });
            })
            .Validate<KeyRequest>()
            .WithName("CreateKey").WithSummary("Create an API key (administrators, or the user itself)")
            .WithDescription("The answer holds the key: the only time it is shown. Only its SHA-256 is stored.")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound);

        users.MapDelete("/{user}/keys/{id}", Results<NoContent, ProblemHttpResult> (string user, string id, HttpContext http, Access access) =>
            {
                if (SelfOrAdministrator(http, access, user) is { } denied) return denied;
                return access.Users.RevokeKey(user, id) ? TypedResults.NoContent() : Problems.NotFound($"User '{user}' has no key '{id}'.");
            })
            .WithName("RevokeKey").WithSummary("Revoke an API key")
            .WithDescription("Requests with it answer 401 at once; WebSockets opened with it close with code 1008; event streams end with an 'error' event.")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound);

        api.MapGet("/permissions", (UserDirectory directory) => TypedResults.Ok(directory.ListPermissions().Select(ToDto).ToList()))
            .RequiresTag(Access.Administrator).WithTags("Users")
            .WithName("ListPermissions").WithSummary("List every permission").ProducesProblem(StatusCodes.Status403Forbidden);

        var permissions = api.MapGroup("/vhosts/{vhost}/permissions").WithTags("Users").RequiresTag(Access.Administrator);

        permissions.MapGet("", (string vhost, UserDirectory directory) => TypedResults.Ok(directory.ListPermissions(vhost: vhost).Select(ToDto).ToList()))
            .WithName("ListVhostPermissions").WithSummary("List the permissions in a vhost").ProducesProblem(StatusCodes.Status403Forbidden);

        permissions.MapGet("/{user}", Results<Ok<PermissionDto>, ProblemHttpResult> (string vhost, string user, UserDirectory directory) =>
                directory.ListPermissions(vhost, user) is [var p] ? TypedResults.Ok(ToDto(p)) : Problems.NotFound($"User '{user}' has no permissions in vhost '{vhost}'."))
            .WithName("GetPermission").WithSummary("Read a user's permissions in a vhost")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound);

        permissions.MapPut("/{user}", async Task<Results<Created<PermissionDto>, Ok<PermissionDto>, ProblemHttpResult>> (string vhost, string user, PermissionRequest request,
                UserDirectory directory, IBroker broker, HttpContext http) =>
            {
                await broker.RequireVhostAsync(vhost, http.RequestAborted);
                var created = directory.SetPermission(user, vhost, request.Configure, request.Write, request.Read);
                var dto = ToDto(directory.ListPermissions(vhost, user)[0]);
                return created ? TypedResults.Created($"/api/vhosts/{Uri.EscapeDataString(vhost)}/permissions/{Uri.EscapeDataString(user)}", dto) : TypedResults.Ok(dto);
            })
            .Validate<PermissionRequest>()
            .WithName("SetPermission").WithSummary("Set a user's permissions in a vhost")
            .WithDescription("Three regular expressions over resource names, as RabbitMQ's: configure (declare, delete), write (publish, bind to), " +
                             "read (get, consume, purge, bind from). Unanchored; \"\" matches nothing, \".*\" everything. " +
                             "The default exchange is the resource 'amq.default'.")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound);

        permissions.MapDelete("/{user}", Results<NoContent, ProblemHttpResult> (string vhost, string user, UserDirectory directory) =>
                directory.DeletePermission(user, vhost) ? TypedResults.NoContent() : Problems.NotFound($"User '{user}' has no permissions in vhost '{vhost}'."))
            .WithName("DeletePermission").WithSummary("Remove a user's permissions in a vhost")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound);

        var auth = api.MapGroup("/auth").WithTags("Users");

        auth.MapPost("/tickets", Results<Created<TicketDto>, ProblemHttpResult> (HttpContext http, Access access, TicketBook tickets) =>
            {
                if (!access.Enabled) return Problems.NotFound("Authentication is off: WebSockets and event streams need no ticket.");
                var (ticket, expires) = tickets.Issue(Access.UserOf(http.User)!, http.User.FindFirst(Access.KeyClaim)!.Value);
                return TypedResults.Created((string?)null, new TicketDto { Ticket = ticket, ExpiresAt = expires });
            })
            .WithName("CreateTicket").WithSummary("Get a single-use ticket for a WebSocket or event stream")
            .WithDescription("Browsers cannot send headers with WebSocket or EventSource: pass the ticket as ?ticket= instead of a key in the URL. " +
                             "It works once, within Gateway:Auth:TicketSeconds (30 s), and carries the caller's key: revoking the key ends what it opened. " +
                             "404 when authentication is off.")
            .ProducesProblem(StatusCodes.Status404NotFound);

        auth.MapGet("/whoami", (HttpContext http, Access access) =>
            {
                var user = Access.UserOf(http.User);
                return TypedResults.Ok(new WhoAmIDto
                {
                    User = user,
                    Tags = user is null ? [] : access.Users.GetUser(user)?.Tags ?? [],
                    KeyId = http.User.FindFirst(Access.KeyClaim)?.Value,
                    AuthenticationEnabled = access.Enabled,
                });
            })
            .WithName("WhoAmI").WithSummary("The caller's user, tags and key id");
    }

    private static ProblemHttpResult? SelfOrAdministrator(HttpContext http, Access access, string user) =>
        !access.Enabled || Access.UserOf(http.User) == user ? null : access.CheckTag(http, Access.Administrator);

    private static UserDto ToDto(UserInfo u) => new() { Name = u.Name, Tags = u.Tags, CreatedAt = u.CreatedAt };

    private static KeyDto ToDto(KeyInfo k) => new()
    {
        Id = k.Id, User = k.User, Description = k.Description, CreatedAt = k.CreatedAt, ExpiresAt = k.ExpiresAt, RevokedAt = k.RevokedAt,
    };

    private static PermissionDto ToDto(PermissionInfo p) => new() { User = p.User, Vhost = p.Vhost, Configure = p.Configure, Write = p.Write, Read = p.Read };
}
