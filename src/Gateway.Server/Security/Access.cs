using System.Security.Claims;
using Gateway.Broker;
using Gateway.Server.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Gateway.Server.Security;

/// <summary>
/// The authorization checks of every operation, with RabbitMQ's mapping: declare/delete = configure on the resource;
/// publish = write on the exchange; bind = write on the destination and read on the source exchange; get, consume,
/// ack and purge = read on the queue; anything else in a vhost needs access to it (a permission entry); users,
/// vhosts, permissions and definitions need the <c>administrator</c> tag. With authentication off everything is allowed.
/// </summary>
public sealed class Access(UserDirectory users, IOptions<AuthOptions> options)
{
    /// <summary>The claim holding the id of the key a request was authenticated with.</summary>
    public const string KeyClaim = "gateway:key";
    /// <summary>The tag of users who manage users, vhosts and permissions.</summary>
    public const string Administrator = "administrator";
    /// <summary>The tag of users who may read overviews and metrics.</summary>
    public const string Management = "management";

    /// <summary>False when authentication is off (local development).</summary>
    public bool Enabled { get; } = options.Value.Enabled;

    /// <summary>The users, keys and permissions checked.</summary>
    public UserDirectory Users => users;

    /// <summary>The signed-in user's name (null when authentication is off).</summary>
    public static string? UserOf(ClaimsPrincipal principal) => principal is ApiKeyAuthentication.KeyPrincipal signedIn ? signedIn.User
        : principal.Identity?.IsAuthenticated == true ? principal.Identity.Name : null;

    /// <summary>Null when allowed, else the reason.</summary>
    public string? Denial(ClaimsPrincipal principal, string vhost, Permission permission, string resource) => Denial(UserOf(principal), vhost, permission, resource);

    /// <summary>Null when <paramref name="user"/> (null: not signed in) is allowed, else the reason; for callers that are not HTTP requests (AMQP).</summary>
    public string? Denial(string? user, string vhost, Permission permission, string resource) =>
        !Enabled ? null : user is not null ? users.Check(user, vhost, permission, resource) : "Not signed in.";

    /// <summary>
    /// Calls <paramref name="lost"/> when a change of the caller's permissions takes away reading <paramref name="queue"/>
    /// (possibly more than once, and on the thread that changed them: keep it short), including at once when it is already
    /// gone: subscriptions end then, not at their next reconnect. Dispose to stop watching. Nothing to watch when
    /// authentication is off.
    /// </summary>
    public IDisposable WatchRead(ClaimsPrincipal principal, string vhost, string queue, Action lost)
    {
        if (!Enabled || UserOf(principal) is not { } user) return NoWatch.Instance;
        void Check()
        {
            if (users.Check(user, vhost, Permission.Read, queue) is not null) lost();
        }
        var watch = ChangeToken.OnChange(() => users.WatchPermissions(user), Check);
        Check(); // a change between the request's authorization and the watch is not missed
        return watch;
    }

    private sealed class NoWatch : IDisposable
    {
        public static readonly NoWatch Instance = new();
        public void Dispose() { }
    }

    /// <summary>The 403 answer when the caller lacks <paramref name="permission"/> on the resource, else null.</summary>
    public ProblemHttpResult? Check(HttpContext http, string vhost, Permission permission, string resource) =>
        Denial(http.User, vhost, permission, resource) is { } denied ? Problems.Forbidden(denied) : null;

    /// <summary>Whether the caller may see the vhost (a permission entry there, or the administrator tag).</summary>
    public bool CanAccess(ClaimsPrincipal principal, string vhost) => CanAccess(UserOf(principal), vhost);

    /// <summary>Whether <paramref name="user"/> (null: not signed in) may see the vhost; for callers that are not HTTP requests (AMQP).</summary>
    public bool CanAccess(string? user, string vhost) =>
        !Enabled || (user is not null && (users.CanAccess(user, vhost) || users.HasTag(user, Administrator)));

    /// <summary>The 403 answer when the caller may not see the vhost, else null.</summary>
    public ProblemHttpResult? CheckVhost(HttpContext http, string vhost) =>
        CanAccess(http.User, vhost) ? null : Problems.Forbidden($"User '{UserOf(http.User)}' has no access to vhost '{vhost}'.");

    /// <summary>Whether the caller carries one of the tags.</summary>
    public bool HasTag(ClaimsPrincipal principal, params string[] tags) =>
        !Enabled || (UserOf(principal) is { } user && tags.Any(t => users.HasTag(user, t)));

    /// <summary>The 403 answer when the caller carries none of the tags, else null.</summary>
    public ProblemHttpResult? CheckTag(HttpContext http, params string[] tags) =>
        HasTag(http.User, tags) ? null : Problems.Forbidden($"This needs a user tagged {string.Join(" or ", tags)}; '{UserOf(http.User)}' is not.");
}

/// <summary>Endpoint conventions that attach the checks as filters.</summary>
internal static class AccessConventions
{
    /// <summary>Needs <paramref name="permission"/> on the resource named by route value <paramref name="routeValue"/>.</summary>
    public static TBuilder Requires<TBuilder>(this TBuilder builder, Permission permission, string routeValue) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var access = http.RequestServices.GetRequiredService<Access>();
            if (!access.Enabled) return await next(context);
            var vhost = http.Request.RouteValues["vhost"] as string ?? "";
            var resource = http.Request.RouteValues[routeValue] as string ?? "";
            return access.Check(http, vhost, permission, resource) ?? await next(context);
        });

    /// <summary>Needs access to the route's vhost.</summary>
    public static TBuilder RequiresVhostAccess<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var access = http.RequestServices.GetRequiredService<Access>();
            return access.CheckVhost(http, http.Request.RouteValues["vhost"] as string ?? "") ?? await next(context);
        });

    /// <summary>Needs one of the user tags.</summary>
    public static TBuilder RequiresTag<TBuilder>(this TBuilder builder, params string[] tags) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            return http.RequestServices.GetRequiredService<Access>().CheckTag(http, tags) ?? await next(context);
        });
}
