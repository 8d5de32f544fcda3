using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Buffers.Text;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Security;

/// <summary>
/// Short-lived, single-use tickets for browsers: WebSocket and EventSource cannot send an Authorization header, and a
/// long-lived key in a URL ends up in logs. An authenticated POST to /api/auth/tickets gets a ticket; the socket or
/// stream passes it as <c>?ticket=</c> within <see cref="AuthOptions.TicketSeconds"/>; it works once and carries the
/// key's identity (so revoking the key still ends what the ticket opened).
/// </summary>
public sealed class TicketBook(IOptions<AuthOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, (string User, string KeyId, DateTimeOffset Expires)> _tickets = new(StringComparer.Ordinal);

    /// <summary>A new ticket for the user and key, valid once within <see cref="AuthOptions.TicketSeconds"/>.</summary>
    public (string Ticket, DateTimeOffset ExpiresAt) Issue(string user, string keyId)
    {
        var now = time.GetUtcNow();
        if (_tickets.Count > 1000)
            foreach (var (t, entry) in _tickets)
                if (entry.Expires <= now) _tickets.TryRemove(t, out _);
        var ticket = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var expires = now.AddSeconds(options.Value.TicketSeconds);
        _tickets[ticket] = (user, keyId, expires);
        return (ticket, expires);
    }

    /// <summary>The identity behind a ticket, once; null when unknown, used or expired.</summary>
    public (string User, string KeyId)? Redeem(string ticket) =>
        _tickets.TryRemove(ticket, out var entry) && entry.Expires > time.GetUtcNow() ? (entry.User, entry.KeyId) : null;
}
