using System.ComponentModel.DataAnnotations;
using Gateway.Broker.Statistics;

namespace Gateway.Server.Contracts;

/// <summary>Message rates per second over the sliding window (<c>Gateway:Statistics:RateWindowSeconds</c>).</summary>
public sealed class MessageRatesInfo
{
    /// <summary>Messages published (overview: to exchanges; queue: that entered the queue).</summary>
    [Range(0, double.MaxValue)] public required double Publish { get; set; }
    /// <summary>Deliveries to consumers and pulls, redeliveries included.</summary>
    [Range(0, double.MaxValue)] public required double Deliver { get; set; }
    /// <summary>Deliveries acknowledged.</summary>
    [Range(0, double.MaxValue)] public required double Ack { get; set; }
    /// <summary>Deliveries of messages delivered before.</summary>
    [Range(0, double.MaxValue)] public required double Redeliver { get; set; }
    /// <summary>Messages dead-lettered (fed by dead-lettering).</summary>
    [Range(0, double.MaxValue)] public required double DeadLetter { get; set; }

    internal static MessageRatesInfo From(MessageRates r) => new()
    {
        Publish = r.Publish, Deliver = r.Deliver, Ack = r.Ack, Redeliver = r.Redeliver, DeadLetter = r.DeadLetter,
    };
}

/// <summary>An exchange's message rates per second over the sliding window.</summary>
public sealed class ExchangeRatesInfo
{
    /// <summary>Messages published to the exchange.</summary>
    [Range(0, double.MaxValue)] public required double PublishIn { get; set; }
    /// <summary>Messages routed from it into queues, one per queue reached.</summary>
    [Range(0, double.MaxValue)] public required double PublishOut { get; set; }

    internal static ExchangeRatesInfo From(ExchangeRates r) => new() { PublishIn = r.PublishIn, PublishOut = r.PublishOut };
}

/// <summary>Message counts over all queues.</summary>
public sealed class QueueTotals
{
    /// <summary>Ready, unacknowledged and delayed.</summary>
    [Range(0, long.MaxValue)] public required long Messages { get; set; }
    /// <summary>Messages waiting for delivery.</summary>
    [Range(0, long.MaxValue)] public required long Ready { get; set; }
    /// <summary>Messages delivered, not yet acknowledged.</summary>
    [Range(0, long.MaxValue)] public required long Unacked { get; set; }
    /// <summary>Messages held back until their delay ends (x-delay, nack with a delay).</summary>
    [Range(0, long.MaxValue)] public required long Delayed { get; set; }
}

/// <summary>How many of each thing the gateway holds.</summary>
public sealed class ObjectTotals
{
    /// <summary>Virtual hosts.</summary>
    [Range(0, int.MaxValue)] public required int Vhosts { get; set; }
    /// <summary>Exchanges, the default and predeclared <c>amq.*</c> ones of every vhost included.</summary>
    [Range(0, int.MaxValue)] public required int Exchanges { get; set; }
    /// <summary>Queues.</summary>
    [Range(0, int.MaxValue)] public required int Queues { get; set; }
    /// <summary>Explicit bindings.</summary>
    [Range(0, int.MaxValue)] public required int Bindings { get; set; }
    /// <summary>Active subscriptions (WebSocket, Server-Sent Events).</summary>
    [Range(0, int.MaxValue)] public required int Consumers { get; set; }
}

/// <summary>Counts and rates of the whole gateway.</summary>
public sealed class OverviewInfo
{
    /// <summary>Message counts over all queues.</summary>
    public required QueueTotals QueueTotals { get; set; }
    /// <summary>Object counts.</summary>
    public required ObjectTotals ObjectTotals { get; set; }
    /// <summary>Rates per second: publish counts messages published to exchanges; the others are summed over queues.</summary>
    public required MessageRatesInfo Rates { get; set; }
}
