using System.Text.Unicode;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Server.Http;

/// <summary>
/// Refuses, before routing, request paths that cannot name a Gateway resource unambiguously (400, a problem document):
/// <list type="bullet">
/// <item>dot segments (<c>.</c>, <c>..</c>, also percent-encoded as <c>%2E%2E</c>): the server resolves them, so
/// <c>DELETE …/vhosts/v/exchanges/%2E%2E</c> would become <c>DELETE …/vhosts/v</c> and act on another resource than the
/// one named;</item>
/// <item>percent-encoding that is malformed (<c>%</c> without two hex digits) or does not decode to UTF-8 (<c>%FF</c>):
/// the server keeps such text as it is, so <c>PUT …/queues/%FF</c> would create a queue named "%FF".</item>
/// </list>
/// A name that really contains <c>%</c> travels as <c>%25</c>. Paths without <c>%</c> or <c>/.</c> (nearly all) are
/// passed on after two scans.
/// </summary>
internal static class UrlPathGuard
{
    public static IApplicationBuilder UseUrlPathGuard(this IApplicationBuilder app) => app.Use((context, next) =>
    {
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(target) || Refusal(target) is not { } detail) return next(context);
        return Problems.BadRequest(detail).ExecuteAsync(context);
    });

    /// <summary>Why the request target's path is refused, or null when it is acceptable.</summary>
    public static string? Refusal(string target)
    {
        var path = target.AsSpan();
        var query = path.IndexOf('?');
        if (query >= 0) path = path[..query];
        if (path.IndexOf('%') < 0 && path.IndexOf("/.", StringComparison.Ordinal) < 0) return null;
        Span<byte> decoded = stackalloc byte[256];
        foreach (var range in path.Split('/'))
        {
            var segment = path[range];
            if (segment.IsEmpty) continue;
            var bytes = segment.Length <= decoded.Length ? decoded : new byte[segment.Length];
            var length = 0;
            for (var i = 0; i < segment.Length; i++)
            {
                var c = segment[i];
                if (c != '%')
                {
                    // Outside escapes a request target is ASCII (Kestrel refuses other bytes); anything else is left as is.
                    bytes[length++] = c < 0x80 ? (byte)c : (byte)'?';
                    continue;
                }
                if (i + 2 >= segment.Length || !char.IsAsciiHexDigit(segment[i + 1]) || !char.IsAsciiHexDigit(segment[i + 2]))
                    return $"The URL path has a malformed percent-encoding in '{segment}': '%' must start an escape of two hex digits (write '%' itself as %25).";
                bytes[length++] = (byte)Convert.FromHexString(segment.Slice(i + 1, 2))[0];
                i += 2;
            }
            var text = bytes[..length];
            if (!Utf8.IsValid(text))
                return $"The URL path segment '{segment}' does not decode to UTF-8 text; names are UTF-8, percent-encoded byte by byte.";
            if (text is [(byte)'.'] or [(byte)'.', (byte)'.'])
                return $"The URL path has a dot segment ('{segment}'), which URLs resolve as a step up the path: it cannot name a resource.";
        }
        return null;
    }
}
