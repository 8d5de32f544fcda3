using Gateway.Broker;
using Gateway.Broker.Durability;
using Microsoft.Extensions.Logging;

namespace Gateway.Amqp.Connections;

/// <summary>What every connection of one listener shares: the broker, the authority, the settings, and the exclusive consumers.</summary>
internal sealed class AmqpServer(IBroker broker, IAmqpAuthority authority, AmqpOptions options, AmqpLimits limits, ILogger logger)
{
    public IBroker Broker { get; } = broker;
    public IAmqpAuthority Authority { get; } = authority;
    public AmqpOptions Options { get; } = options;
    public AmqpLimits Limits { get; } = limits;
    public ILogger Logger { get; } = logger;

    /// <summary>True while publishers must wait (the memory alarm); null: never.</summary>
    public Func<bool>? PublishingBlocked { get; init; }

    /// <summary>
    /// The engine's vhost for a vhost name as AMQP clients send it: "/" (every client library's default) is the
    /// gateway's default vhost unless a vhost named "/" exists.
    /// </summary>
    public async ValueTask<IBrokerVhost?> FindVhostAsync(string name, CancellationToken cancellationToken)
    {
        if (await Broker.GetVhostAsync(name, cancellationToken) is { } vhost) return vhost;
        return name == "/" ? await Broker.GetVhostAsync(MessageBroker.DefaultVhost, cancellationToken) : null;
    }
}
