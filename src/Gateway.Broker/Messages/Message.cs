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

    /// <summary>The header asking for delayed delivery, in milliseconds (as RabbitMQ's delayed-message plugin).</summary>
    public const string DelayHeader = "x-delay";

    /// <summary>Per-message TTL from the expiration property in milliseconds; -1 when none.</summary>
    internal readonly long ExpirationMs = TryParseExpiration(properties.Expiration, out var ms) ? ms : -1;

    /// <summary>Delay from the <see cref="DelayHeader"/> header in milliseconds; 0 when none.</summary>
    internal readonly long DelayMs = properties.Headers?.GetValueOrDefault(DelayHeader) is long delay && delay > 0 ? delay : 0;

    /// <summary>
    /// Reads an expiration property as RabbitMQ does: a non-negative integer number of milliseconds, in decimal digits.
    /// </summary>
    public static bool TryParseExpiration(string? expiration, out long milliseconds)
    {
        milliseconds = -1;
        if (string.IsNullOrEmpty(expiration) || expiration.Length > 10) return false;
        foreach (var c in expiration) if (c is < '0' or > '9') return false;
        milliseconds = long.Parse(expiration, System.Globalization.CultureInfo.InvariantCulture);
        if (milliseconds <= uint.MaxValue) return true;
        milliseconds = -1;
        return false;
    }

    /// <summary>
    /// Where the journal stores the message: the id of its row in the shared message table (positive); 0 while nothing
    /// is stored; minus a queue's durable id while its only stored queue entry holds it inline, the entry of that queue
    /// at <see cref="JournalSequence"/> (durable queue ids are positive). Read and written by the journal writer only
    /// (and by recovery before it).
    /// </summary>
    internal long JournalId;

    /// <summary>The sequence of the queue entry holding the message inline, while <see cref="JournalId"/> is negative.</summary>
    internal long JournalSequence;

    /// <summary>How many durable queue entries hold the message (the journal row goes with the last).</summary>
    internal int DurableReferences;
}
