using Gateway.Broker.Queues;

namespace Gateway.Broker.Topology;

/// <summary>Where a matching binding sends a message: one queue, or an exchange by name.</summary>
internal sealed class RouteTarget
{
    public RouteTarget(MessageQueue queue) => Queue = queue;
    public RouteTarget(string exchange) => Exchange = exchange;

    public MessageQueue? Queue { get; }
    public string? Exchange { get; }
}
