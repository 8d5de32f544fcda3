namespace Gateway.Broker.Messages;

/// <summary>
/// A published message: one instance however many queues it was routed to, its body shared, never copied.
/// </summary>
public sealed class Message(string exchange, string routingKey, MessageProperties properties, ReadOnlyMemory<byte> body)
{
    /// <summary>The exchange it was published to ("" for the default exchange).</summary>
    public string Exchange { get; } = exchange;
    /// <summary>The routing key it was published with.</summary>
    public string RoutingKey { get; } = routingKey;
    /// <summary>Its AMQP properties.</summary>
    public MessageProperties Properties { get; } = properties;
    /// <summary>The payload bytes.</summary>
    public ReadOnlyMemory<byte> Body { get; } = body;

    /// <summary>The journal's row id; 0 while no row is stored. Read and written by the journal writer only.</summary>
    internal long JournalId;

    /// <summary>How many durable queue entries hold the message (the journal row goes with the last).</summary>
    internal int DurableReferences;
}
