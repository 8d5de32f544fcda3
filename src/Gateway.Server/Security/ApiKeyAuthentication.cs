using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using Gateway.Server.Http;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Security;

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;key&gt;</c>, <c>Authorization: Basic base64(user:key)</c> (curl's -u and
/// RabbitMQ habits; the key must be the user's), and, on the WebSocket and event-stream endpoints only (GET), <c>?ticket=</c>.
/// Failures answer 401 with <c>WWW-Authenticate</c> and a problem document.
/// </summary>
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

internal sealed class ApiKeyAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    UserDirectory users, TicketBook tickets) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        (string User, string KeyId)? identity;
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            identity = users.Authenticate(header.AsSpan(7).Trim());
            if (identity is null) return Task.FromResult(AuthenticateResult.Fail("The API key is unknown, revoked or expired."));
        }
        else if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            if (!TryDecodeBasic(header[6..].Trim(), out var user, out var key))
                return Task.FromResult(AuthenticateResult.Fail("The Basic credentials are not base64 of 'user:key'."));
            identity = users.Authenticate(key);
            if (identity is null || identity.Value.User != user)
                return Task.FromResult(AuthenticateResult.Fail("The user name and API key do not match a valid key of that user."));
        }
        else if (Request.Query["ticket"].ToString() is { Length: > 0 } ticket && AcceptsTicket(Context))
        {
            identity = tickets.Redeem(ticket);
            if (identity is null) return Task.FromResult(AuthenticateResult.Fail("The ticket is unknown, used already or expired."));
            // The key behind the ticket may have been revoked (or its user deleted) since the ticket was issued.
            if (!users.IsActive(identity.Value.KeyId))
                return Task.FromResult(AuthenticateResult.Fail("The API key that issued the ticket was revoked or expired."));
        }
        else return Task.FromResult(AuthenticateResult.NoResult());

        return Task.FromResult(Succeeded(identity.Value));
    }

    // One answer per (user, key), built once: the principal names the user and the key and nothing else, so it is the
    // same for every request with that key. Whether the key may still be used is decided above on every request
    // (UserDirectory.Authenticate: revocation, deletion and expiry take effect at once); a cached answer is only ever
    // handed out after that check. Bounded like the directory's cache of verified keys.
    private static readonly ConcurrentDictionary<(string User, string KeyId), AuthenticateResult> Answers = new();

    private static AuthenticateResult Succeeded((string User, string KeyId) identity)
    {
        if (Answers.TryGetValue(identity, out var known)) return known;
        if (Answers.Count > 10_000) Answers.Clear();
        var principal = new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, identity.User), new Claim(Access.KeyClaim, identity.KeyId)], SchemeName));
        return Answers[identity] = AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
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

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = (await HandleAuthenticateOnceSafeAsync()).Failure?.Message;
        Response.Headers.WWWAuthenticate = "Bearer realm=\"gateway\", Basic realm=\"gateway\"";
        await Problems.Problem(StatusCodes.Status401Unauthorized, "unauthenticated",
                failure ?? "This needs an API key: 'Authorization: Bearer <key>' (or Basic with user name and key).")
            .ExecuteAsync(Context);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.Forbidden("Not allowed.").ExecuteAsync(Context);
}
