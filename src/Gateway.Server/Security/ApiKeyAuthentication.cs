using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using Gateway.Server.Http;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Security;

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;key&gt;</c>, <c>Authorization: Basic base64(user:key)</c> (curl's -u and
/// RabbitMQ habits; the key must be the user's), and, on WebSocket and event-stream paths only, <c>?ticket=</c>.
/// Failures answer 401 with <c>WWW-Authenticate</c> and a problem document.
/// </summary>
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
            identity = users.Authenticate(header[7..].Trim());
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
        else if (Request.Query["ticket"].ToString() is { Length: > 0 } ticket && IsStreamPath(Request.Path))
        {
            identity = tickets.Redeem(ticket);
            if (identity is null) return Task.FromResult(AuthenticateResult.Fail("The ticket is unknown, used already or expired."));
        }
        else return Task.FromResult(AuthenticateResult.NoResult());

        var (name, keyId) = identity.Value;
        var principal = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, name), new Claim(Access.KeyClaim, keyId)], SchemeName));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }

    private static bool IsStreamPath(PathString path) =>
        path.Value is { } p && (p.EndsWith("/ws", StringComparison.Ordinal) || p.EndsWith("/events", StringComparison.Ordinal));

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
