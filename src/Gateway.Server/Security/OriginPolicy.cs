using Gateway.Server.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Server.Security;

/// <summary>
/// Cross-site WebSocket hijacking: browsers send cookies and credentials with a WebSocket upgrade from any page, and
/// the Origin header is the only sign of where it came from. A request with an Origin that is neither this server's
/// own nor in <see cref="AuthOptions.AllowedOrigins"/> is refused. Requests without Origin (non-browser clients) pass.
/// </summary>
internal static class OriginPolicy
{
    public static ProblemHttpResult? Refusal(HttpContext http, AuthOptions options)
    {
        var origin = http.Request.Headers.Origin.ToString();
        if (origin.Length == 0) return null;
        if (Uri.TryCreate(origin, UriKind.Absolute, out var uri) && string.Equals(uri.Authority, http.Request.Host.Value, StringComparison.OrdinalIgnoreCase))
            return null;
        foreach (var allowed in options.AllowedOrigins)
            if (allowed == "*" || string.Equals(allowed.TrimEnd('/'), origin, StringComparison.OrdinalIgnoreCase)) return null;
        return Problems.Forbidden($"Origin '{origin}' may not open WebSockets or event streams here (Gateway:Auth:AllowedOrigins).");
    }
}
