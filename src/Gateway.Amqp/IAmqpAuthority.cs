namespace Gateway.Amqp;

/// <summary>What an AMQP operation needs on a resource, as RabbitMQ's (and the HTTP API's) permissions.</summary>
public enum AmqpPermission
{
    /// <summary>Declare and delete.</summary>
    Configure,
    /// <summary>Publish to an exchange; bind to a queue or exchange (as destination).</summary>
    Write,
    /// <summary>Get, consume and purge a queue; bind from an exchange (as source).</summary>
    Read,
}

/// <summary>A signed-in AMQP user.</summary>
/// <param name="Name">The gateway user's name.</param>
/// <param name="Lifetime">Cancelled when the key the connection signed in with is revoked or expires, or its user is deleted: the connection is then closed with 320 CONNECTION_FORCED.</param>
public sealed record AmqpUser(string Name, CancellationToken Lifetime);

/// <summary>
/// Authentication and authorization for the listener, implemented by the host with the same users, keys and
/// permissions as its HTTP API (Gateway.Server's <c>Access</c>), so that AMQP clients are checked exactly as HTTP ones.
/// </summary>
public interface IAmqpAuthority
{
    /// <summary>The user, when <paramref name="password"/> is an active API key of user <paramref name="user"/>; else null.</summary>
    AmqpUser? Authenticate(string user, string password);

    /// <summary>Whether the user may open the vhost (a permission entry there, or the administrator tag).</summary>
    bool CanOpen(AmqpUser user, string vhost);

    /// <summary>Null when allowed, else why not.</summary>
    string? Denial(AmqpUser user, string vhost, AmqpPermission permission, string resource);
}
