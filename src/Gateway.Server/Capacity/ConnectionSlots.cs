using System.Globalization;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Capacity;

/// <summary>
/// Counts the WebSocket and event-stream connections each user holds open (<see cref="ClientIdentity"/>), up to
/// <see cref="GatewayLimitsOptions.MaxConnectionsPerUser"/>: one more is refused with 429 and Retry-After before it is
/// upgraded or streamed, so that one client cannot hold every socket and subscription the server can afford.
/// </summary>
public sealed class ConnectionSlots(IOptions<GatewayLimitsOptions> options)
{
    /// <summary>What a refused connection is told to wait, in seconds.</summary>
    public const int RetryAfterSeconds = 5;

    private readonly int _max = options.Value.MaxConnectionsPerUser;
    private readonly Dictionary<string, int> _open = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Connections open for an identity.</summary>
    public int OpenFor(string identity)
    {
        lock (_lock) return _open.GetValueOrDefault(identity);
    }

    /// <summary>
    /// Takes a slot for the caller: the slot (dispose it when the connection ends), or null with <paramref name="refusal"/>
    /// (429, Retry-After set on the response) when the caller holds the most already.
    /// </summary>
    public IDisposable? TryOpen(HttpContext http, out ProblemHttpResult? refusal)
    {
        var identity = ClientIdentity.Of(http);
        lock (_lock)
        {
            var open = _open.GetValueOrDefault(identity);
            if (open >= _max)
            {
                http.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                refusal = Problems.Problem(StatusCodes.Status429TooManyRequests, "too-many-connections",
                    $"{Describe(identity)} holds {open} WebSocket and event-stream connections, the most allowed " +
                    $"(Gateway:Limits:MaxConnectionsPerUser = {_max}); close one, or retry after {RetryAfterSeconds} s.");
                return null;
            }
            _open[identity] = open + 1;
        }
        refusal = null;
        return new Slot(this, identity);
    }

    private static string Describe(string identity) =>
        identity.StartsWith("user:", StringComparison.Ordinal) ? $"User '{identity[5..]}'" : $"Address {identity[8..]}";

    private void Release(string identity)
    {
        lock (_lock)
        {
            var open = _open.GetValueOrDefault(identity) - 1;
            if (open <= 0) _open.Remove(identity);
            else _open[identity] = open;
        }
    }

    private sealed class Slot(ConnectionSlots owner, string identity) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) owner.Release(identity);
        }
    }
}
