using Gateway.Amqp;
using Gateway.Server.Security;

namespace Gateway.Server.Amqp;

/// <summary>
/// The AMQP listener's authentication and authorization: the user name is the gateway user's, the password one of
/// its API keys, checked by the same <see cref="UserDirectory"/> as a bearer key over HTTP; vhost access and
/// configure/write/read permissions are <see cref="Access"/>'s. The connection lives as long as its key
/// (<see cref="UserDirectory.KeyLifetime"/>). With authentication off every login is accepted, as every HTTP request is.
/// </summary>
internal sealed class AmqpAuthority(Access access) : IAmqpAuthority
{
    public AmqpUser? Authenticate(string user, string password)
    {
        if (!access.Enabled) return new AmqpUser(user, CancellationToken.None);
        if (access.Users.Authenticate(password) is not var (owner, keyId) || owner != user) return null;
        return new AmqpUser(user, access.Users.KeyLifetime(keyId));
    }

    public bool CanOpen(AmqpUser user, string vhost) => access.CanAccess(user.Name, vhost);

    public string? Denial(AmqpUser user, string vhost, AmqpPermission permission, string resource) =>
        access.Denial(user.Name, vhost, permission switch
        {
            AmqpPermission.Configure => Permission.Configure,
            AmqpPermission.Write => Permission.Write,
            _ => Permission.Read,
        }, resource);
}
