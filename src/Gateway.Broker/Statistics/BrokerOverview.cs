namespace Gateway.Broker.Statistics;

/// <summary>Counts of everything in the broker and its message rates.</summary>
/// <param name="Vhosts">Virtual hosts.</param>
/// <param name="Exchanges">Exchanges, the default and predeclared ones included.</param>
/// <param name="Queues">Queues.</param>
/// <param name="Bindings">Explicit bindings.</param>
/// <param name="Consumers">Active subscriptions.</param>
/// <param name="MessagesReady">Messages waiting for delivery, over all queues.</param>
/// <param name="MessagesUnacknowledged">Messages delivered and not yet acknowledged, over all queues.</param>
/// <param name="MessagesDelayed">Messages held back until their delay ends, over all queues.</param>
/// <param name="Rates">
/// Per-second rates: <see cref="MessageRates.Publish"/> counts messages published to exchanges; the others are summed
/// over the queues that exist now.
/// </param>
public sealed record BrokerOverview(
    int Vhosts, int Exchanges, int Queues, int Bindings, int Consumers,
    long MessagesReady, long MessagesUnacknowledged, long MessagesDelayed, MessageRates Rates);
