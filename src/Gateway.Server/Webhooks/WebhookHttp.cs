using System.Net;
using System.Net.Sockets;

namespace Gateway.Server.Webhooks;

/// <summary>A connection refused by the <see cref="AddressPolicy"/> (server-side request forgery protection).</summary>
internal sealed class AddressRefusedException(string message) : Exception(message);

/// <summary>The HTTP client of one webhook: its own connection pool, so that one endpoint cannot use up another's.</summary>
internal static class WebhookHttp
{
    /// <summary>
    /// A handler for one webhook: at most <paramref name="connections"/> connections (its concurrency), no proxy (an
    /// environment proxy would connect on our behalf and skip the address check), no redirects, no cookies, no
    /// decompression, small response-header and drain limits, connections recycled every few minutes so that DNS
    /// changes are seen. Every connection is opened by <see cref="ConnectAsync"/>, which checks the resolved address.
    /// </summary>
    public static SocketsHttpHandler CreateHandler(AddressPolicy policy, int connections, TimeSpan connectTimeout) => new()
    {
        MaxConnectionsPerServer = connections,
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        MaxResponseHeadersLength = 16, // KiB
        MaxResponseDrainSize = 16 * 1024,
        ResponseDrainTimeout = TimeSpan.FromSeconds(1),
        ConnectTimeout = connectTimeout,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
        ConnectCallback = (context, cancellationToken) => ConnectAsync(policy, context.DnsEndPoint, cancellationToken),
    };

    /// <summary>
    /// Resolves the host (once, here: the address checked is the address connected to, so a DNS answer that changes
    /// between a check and the connect cannot slip through) and connects to the first allowed address that answers.
    /// </summary>
    public static async ValueTask<Stream> ConnectAsync(AddressPolicy policy, DnsEndPoint endpoint, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(endpoint.Host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endpoint.Host, cancellationToken).ConfigureAwait(false);
        var allowed = new List<IPAddress>(addresses.Length);
        var refusals = new List<string>();
        foreach (var address in addresses)
        {
            if (policy.Refusal(address) is { } reason) refusals.Add($"{address} ({reason})");
            else allowed.Add(address);
        }
        if (allowed.Count == 0)
            throw new AddressRefusedException(refusals.Count == 0
                ? $"'{endpoint.Host}' resolved to no address."
                : $"'{endpoint.Host}' resolves only to addresses webhooks may not reach: {string.Join(", ", refusals)}; allow them in Gateway:Webhooks:AllowedNetworks if intended.");

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed.ToArray(), endpoint.Port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
