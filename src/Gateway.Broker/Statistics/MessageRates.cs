namespace Gateway.Broker.Statistics;

/// <summary>
/// A queue's message rates, per second, averaged over the sliding window of <see cref="BrokerOptions.RateWindow"/>.
/// </summary>
/// <param name="Publish">Messages that entered the queue.</param>
/// <param name="Deliver">Deliveries to consumers and pulls (redeliveries included).</param>
/// <param name="Ack">Deliveries acknowledged.</param>
/// <param name="Redeliver">Deliveries of messages delivered before (a subset of <paramref name="Deliver"/>).</param>
/// <param name="DeadLetter">Messages dead-lettered from the queue.</param>
public sealed record MessageRates(double Publish, double Deliver, double Ack, double Redeliver, double DeadLetter)
{
    /// <summary>No messages moved.</summary>
    public static readonly MessageRates Zero = new(0, 0, 0, 0, 0);

    /// <summary>The sum of two sets of rates (for totals over queues).</summary>
    public static MessageRates operator +(MessageRates a, MessageRates b) =>
        new(a.Publish + b.Publish, a.Deliver + b.Deliver, a.Ack + b.Ack, a.Redeliver + b.Redeliver, a.DeadLetter + b.DeadLetter);
}

/// <summary>An exchange's message rates, per second, over the sliding window of <see cref="BrokerOptions.RateWindow"/>.</summary>
/// <param name="PublishIn">Messages published to the exchange.</param>
/// <param name="PublishOut">Messages the exchange routed into queues, one per queue reached.</param>
public sealed record ExchangeRates(double PublishIn, double PublishOut)
{
    /// <summary>No messages moved.</summary>
    public static readonly ExchangeRates Zero = new(0, 0);
}
