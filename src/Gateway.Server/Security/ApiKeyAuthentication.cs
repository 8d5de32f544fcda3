using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text;
using Gateway.Server.Http;
using Microsoft.AspNetCore.Authorization;

namespace Gateway.Server.Security;

/// <summary>Endpoint metadata: this endpoint (a WebSocket or event stream) accepts <c>?ticket=</c>.</summary>
internal sealed class TicketAuthentication
{
    public static readonly TicketAuthentication Instance = new();
}

internal static class TicketAuthenticationExtensions
{
    /// <summary>Lets browsers authenticate this GET endpoint with a single-use <c>?ticket=</c> (WebSocket, EventSource).</summary>
    public static TBuilder AcceptsTicket<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(TicketAuthentication.Instance);
}

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;key&gt;</c>, <c>Authorization: Basic base64(user:key)</c> (curl's -u and
/// RabbitMQ habits; the key must be the user's), and, on the WebSocket and event-stream endpoints only (GET), <c>?ticket=</c>.
/// Failures answer 401 with <c>WWW-Authenticate</c> and a problem document.
/// </summary>
/// <remarks>
/// Authenticates every request, ahead of rate limiting; <see cref="Require"/> then refuses anonymous callers where the
/// endpoint does not allow them. A middleware of the gateway's own rather than ASP.NET Core's authentication and
/// authorization stacks: for one scheme and one rule those cost ~2.3 KB and half a dozen asynchronous calls per request
/// (handler and scheme lookups, a request service scope, a new ticket per request, the policy evaluator; measured with
/// bench/Gateway.PipelineBench, bench/README.md "The publish path"). Here a request with a valid key costs two
/// dictionary lookups and gets the principal built once for its key. Permissions are checked by the endpoints
/// (<see cref="Access"/>), never by authorization policies, which nothing here would evaluate: a test checks that no
/// endpoint asks for one.
/// </remarks>
internal sealed class ApiKeyAuthentication(UserDirectory users, TicketBook tickets)
{
    /// <summary>The authentication type of the principals this gives out.</summary>
    public const string SchemeName = "ApiKey";

    /// <summary>Sets the request's user when its credentials are valid; remembers why not when they are not.</summary>
    public Task Authenticate(HttpContext context, RequestDelegate next)
    {
        if (Check(context) is { } failure) context.Features.Set(new Failure(failure));
        return next(context);
    }

    /// <summary>
    /// Passes signed-in callers, and anonymous ones to endpoints marked AllowAnonymous; answers the rest 401 with
    /// <c>WWW-Authenticate</c> and a problem saying what was wrong with their credentials. A request that matched no
    /// endpoint needs a signed-in caller too: an anonymous caller learns nothing about which paths exist.
    /// </summary>
    public static Task Require(HttpContext context, RequestDelegate next)
    {
        if (context.User is KeyPrincipal || context.User.Identity?.IsAuthenticated == true) return next(context);
        if (context.GetEndpoint()?.Metadata.GetMetadata<IAllowAnonymous>() is not null) return next(context);
        context.Response.Headers.WWWAuthenticate = "Bearer realm=\"gateway\", Basic realm=\"gateway\"";
        return Problems.Problem(StatusCodes.Status401Unauthorized, "unauthenticated",
                context.Features.Get<Failure>()?.Reason ?? "This needs an API key: 'Authorization: Bearer <key>' (or Basic with user name and key).")
            .ExecuteAsync(context);
    }

    private sealed record Failure(string Reason);

    // Null when the request is signed in now or carries no credentials; else why the credentials were refused.
    private string? Check(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        (string User, string KeyId)? identity;
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            identity = users.Authenticate(header.AsSpan(7).Trim());
            if (identity is null) return "The API key is unknown, revoked or expired.";
        }
        else if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            if (!TryDecodeBasic(header[6..].Trim(), out var user, out var key)) return "The Basic credentials are not base64 of 'user:key'.";
            identity = users.Authenticate(key);
            if (identity is null || identity.Value.User != user) return "The user name and API key do not match a valid key of that user.";
        }
        else if (context.Request.Query["ticket"].ToString() is { Length: > 0 } ticket && AcceptsTicket(context))
        {
            identity = tickets.Redeem(ticket);
            if (identity is null) return "The ticket is unknown, used already or expired.";
            // The key behind the ticket may have been revoked (or its user deleted) since the ticket was issued.
            if (!users.IsActive(identity.Value.KeyId)) return "The API key that issued the ticket was revoked or expired.";
        }
        else return null;

        context.User = PrincipalOf(identity.Value);
        return null;
    }

    // One principal per (user, key), built once: it names the user and the key and nothing else, so it is the same for
    // every request with that key. Whether the key may still be used is decided above on every request
    // (UserDirectory.Authenticate: revocation, deletion and expiry take effect at once); a cached principal is only
    // ever handed out after that check. Bounded like the directory's cache of verified keys.
    private static readonly ConcurrentDictionary<(string User, string KeyId), ClaimsPrincipal> Principals = new();

    private static ClaimsPrincipal PrincipalOf((string User, string KeyId) identity)
    {
        if (Principals.TryGetValue(identity, out var known)) return known;
        if (Principals.Count > 10_000) Principals.Clear();
        return Principals[identity] = new KeyPrincipal(identity.User, identity.KeyId);
    }

    /// <summary>
    /// A principal signed in with an API key, with the claims of any other (the user's name, <see cref="Access.KeyClaim"/>)
    /// and the user's name at hand: <see cref="Access.UserOf"/> runs several times per request, and through the claims
    /// each run would enumerate identities and claims.
    /// </summary>
    internal sealed class KeyPrincipal(string user, string keyId)
        : ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user), new Claim(Access.KeyClaim, keyId)], SchemeName))
    {
        /// <summary>The signed-in user's name.</summary>
        public string User { get; } = user;
    }

    // Only the endpoints marked with AcceptsTicket (WebSocket and event stream), and only GET: not any path that
    // happens to end in /ws or /events (a queue named "events", an exchange named "ws").
    private static bool AcceptsTicket(HttpContext context) =>
        HttpMethods.IsGet(context.Request.Method) && context.GetEndpoint()?.Metadata.GetMetadata<TicketAuthentication>() is not null;

    private static bool TryDecodeBasic(string encoded, out string user, out string key)
    {
        user = key = "";
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
            var colon = text.IndexOf(':');
            if (colon <= 0) return false;
            user = text[..colon];
            key = text[(colon + 1)..];
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}

internal static class ApiKeyAuthenticationExtensions
{
    /// <summary>Authenticates every request (<see cref="ApiKeyAuthentication.Authenticate"/>).</summary>
    public static IApplicationBuilder UseApiKeyAuthentication(this IApplicationBuilder app)
    {
        var authentication = app.ApplicationServices.GetRequiredService<ApiKeyAuthentication>();
        return app.Use(authentication.Authenticate);
    }

    /// <summary>Refuses anonymous callers (<see cref="ApiKeyAuthentication.Require"/>).</summary>
    public static IApplicationBuilder UseAuthenticatedUsers(this IApplicationBuilder app) => app.Use(ApiKeyAuthentication.Require);
}
