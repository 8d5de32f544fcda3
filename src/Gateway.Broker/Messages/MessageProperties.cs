namespace Gateway.Broker.Messages;

/// <summary>The AMQP 0-9-1 basic properties of a message. Immutable and shared by every queue that holds the message.</summary>
public sealed record MessageProperties
{
    /// <summary>No properties set; a transient message.</summary>
    public static readonly MessageProperties Empty = new();

    /// <summary>MIME type of the payload.</summary>
    public string? ContentType { get; init; }
    /// <summary>MIME content encoding of the payload.</summary>
    public string? ContentEncoding { get; init; }
    /// <summary>Application headers; values are string, long, double, bool, byte[], lists and nested tables (see <see cref="HeaderValues"/>).</summary>
    public IReadOnlyDictionary<string, object?>? Headers { get; init; }
    /// <summary>1 = transient, 2 = persistent. Unset means transient.</summary>
    public byte? DeliveryMode { get; init; }
    /// <summary>Message priority, 0 to 255.</summary>
    public byte? Priority { get; init; }
    /// <summary>Application correlation identifier.</summary>
    public string? CorrelationId { get; init; }
    /// <summary>Address to reply to.</summary>
    public string? ReplyTo { get; init; }
    /// <summary>Per-message TTL in milliseconds, as a decimal string (AMQP shortstr).</summary>
    public string? Expiration { get; init; }
    /// <summary>Application message identifier.</summary>
    public string? MessageId { get; init; }
    /// <summary>Seconds since the Unix epoch.</summary>
    public long? Timestamp { get; init; }
    /// <summary>Message type name.</summary>
    public string? Type { get; init; }
    /// <summary>Creating user id.</summary>
    public string? UserId { get; init; }
    /// <summary>Creating application id.</summary>
    public string? AppId { get; init; }

    /// <summary>True for delivery mode 2.</summary>
    public bool IsPersistent => DeliveryMode == 2;
}
