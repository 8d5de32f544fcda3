using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using Gateway.Server.Json;

namespace Gateway.Server.Contracts;

/// <summary>AMQP 0-9-1 basic properties.</summary>
public sealed class MessagePropertiesDto
{
    /// <summary>MIME type of the payload.</summary>
    [MaxLength(255)] public string? ContentType { get; set; }
    /// <summary>MIME content encoding of the payload.</summary>
    [MaxLength(255)] public string? ContentEncoding { get; set; }
    /// <summary>Application headers. Integer literals are AMQP longs, literals with a fraction or exponent doubles.</summary>
    [JsonConverter(typeof(FieldTableConverter))]
    public IReadOnlyDictionary<string, object?>? Headers { get; set; }
    /// <summary>1 = transient (default), 2 = persistent.</summary>
    [Range(1, 2)] public int? DeliveryMode { get; set; }
    /// <summary>0 to 255.</summary>
    [Range(0, 255)] public int? Priority { get; set; }
    /// <summary>Application correlation identifier.</summary>
    [MaxLength(255)] public string? CorrelationId { get; set; }
    /// <summary>Address to reply to.</summary>
    [MaxLength(255)] public string? ReplyTo { get; set; }
    /// <summary>Per-message TTL in milliseconds, as a string of digits (AMQP).</summary>
    [MaxLength(255)] public string? Expiration { get; set; }
    /// <summary>Application message identifier.</summary>
    [MaxLength(255)] public string? MessageId { get; set; }
    /// <summary>Seconds since the Unix epoch.</summary>
    [Range(0, long.MaxValue)] public long? Timestamp { get; set; }
    /// <summary>Message type name.</summary>
    [MaxLength(255)] public string? Type { get; set; }
    /// <summary>Creating user id.</summary>
    [MaxLength(255)] public string? UserId { get; set; }
    /// <summary>Creating application id.</summary>
    [MaxLength(255)] public string? AppId { get; set; }
}

/// <summary>A message to publish.</summary>
public sealed class PublishRequest
{
    /// <summary>The routing key, 0 to 255 bytes of UTF-8. Default "".</summary>
    [MaxLength(255)] public string RoutingKey { get; set; } = "";
    /// <summary>The payload: text, or base64 when <c>payloadEncoding</c> is <c>base64</c>.</summary>
    // [JsonRequired] rather than `required`: the serializer then fills the object through setters, not its slower
    // constructor-argument path (this type is parsed once per published message).
    [JsonRequired] public string Payload { get; set; } = "";
    /// <summary>How <c>payload</c> is written. Default <c>string</c>.</summary>
    public PayloadEncoding PayloadEncoding { get; set; } = PayloadEncoding.String;
    /// <summary>AMQP properties.</summary>
    public MessagePropertiesDto? Properties { get; set; }
    /// <summary>When true and no queue takes the message, the publish answers 422 (single) or <c>returned: true</c> (batch).</summary>
    public bool Mandatory { get; set; }
}

/// <summary>The publisher confirm of one message.</summary>
public sealed class PublishResult
{
    /// <summary>True when at least one queue took the message.</summary>
    public required bool Routed { get; set; }
    /// <summary>How many queues took the message.</summary>
    public required int Queues { get; set; }
    /// <summary>True when the message was mandatory and no queue took it (AMQP basic.return).</summary>
    public bool Returned { get; set; }
    /// <summary>
    /// Batch only: true when a full queue refused the message (<c>x-overflow</c> reject-publish): not confirmed, as
    /// AMQP's basic.nack. Other queues it was routed to may have taken it (<c>queues</c>).
    /// </summary>
    public bool Rejected { get; set; }
}

/// <summary>Messages to publish in one request.</summary>
public sealed class BatchPublishRequest
{
    /// <summary>The messages, in order.</summary>
    [MinLength(1), JsonRequired] public List<PublishRequest> Messages { get; set; } = [];
    /// <summary>
    /// True: all messages are routed and stored, or none (AMQP tx). A mandatory message that no queue would take, or
    /// a message a full reject-publish queue would refuse, refuses the whole batch (422 / 409) before anything is
    /// published; the persistent messages commit in one journal transaction.
    /// </summary>
    public bool Atomic { get; set; }
}

/// <summary>One confirm per message, in request order.</summary>
public sealed class BatchPublishResponse
{
    /// <summary>The confirms.</summary>
    public required List<PublishResult> Results { get; set; }
}

/// <summary>A message delivered to a consumer.</summary>
public sealed class DeliveryDto
{
    /// <summary>Opaque tag for ack, nack and extend.</summary>
    public required string DeliveryTag { get; set; }
    /// <summary>True when the message was delivered before.</summary>
    public required bool Redelivered { get; set; }
    /// <summary>How many times it has been delivered, this time included.</summary>
    public required int DeliveryCount { get; set; }
    /// <summary>The exchange it was published to (<c>amq.default</c> for the default exchange).</summary>
    public required string Exchange { get; set; }
    /// <summary>The routing key it was published with.</summary>
    public required string RoutingKey { get; set; }
    /// <summary>Its AMQP properties.</summary>
    public required MessagePropertiesDto Properties { get; set; }
    /// <summary>The payload, as text when it is valid UTF-8, else base64.</summary>
    public required string Payload { get; set; }
    /// <summary>How <c>payload</c> is written.</summary>
    public required PayloadEncoding PayloadEncoding { get; set; }
}

/// <summary>A pull request.</summary>
public sealed class GetRequest
{
    /// <summary>Most messages to answer, 1 to 1000. Default 1.</summary>
    [Range(1, Limits.MaxGetMessages)] public int Max { get; set; } = 1;
    /// <summary>Seconds to wait for a first message when the queue is empty, 0 to 120. Default 0.</summary>
    [Range(0, Limits.MaxWaitSeconds)] public int WaitSeconds { get; set; }
    /// <summary><c>manual</c> (default): deliveries are leased until acked; <c>auto</c>: acked once written.</summary>
    public AckMode AckMode { get; set; } = AckMode.Manual;
    /// <summary>Seconds an unacked delivery stays leased before it returns to the queue, 1 to 43200. Default 30.</summary>
    [Range(1, Limits.MaxLeaseSeconds)] public int LeaseSeconds { get; set; } = Limits.DefaultLeaseSeconds;
}

/// <summary>Delivery tags to acknowledge.</summary>
public sealed class AckRequest
{
    /// <summary>1 to 10000 tags from this queue's deliveries.</summary>
    [MinLength(1), MaxLength(Limits.MaxTagsPerRequest)] public required List<string> DeliveryTags { get; set; }
}

/// <summary>Delivery tags to reject.</summary>
public sealed class NackRequest
{
    /// <summary>1 to 10000 tags from this queue's deliveries.</summary>
    [MinLength(1), MaxLength(Limits.MaxTagsPerRequest)] public required List<string> DeliveryTags { get; set; }
    /// <summary>
    /// True (default): back to their original positions, redelivered; false: dead-lettered (reason <c>rejected</c>)
    /// when the queue has a dead-letter exchange, else dropped.
    /// </summary>
    public bool Requeue { get; set; } = true;
    /// <summary>With requeue: keep the messages invisible this many milliseconds first (retry with backoff), 0 to 4294967295.</summary>
    [Range(0L, uint.MaxValue)] public long? DelayMilliseconds { get; set; }
}

/// <summary>Leases to extend.</summary>
public sealed class ExtendRequest
{
    /// <summary>1 to 10000 tags of leased deliveries.</summary>
    [MinLength(1), MaxLength(Limits.MaxTagsPerRequest)] public required List<string> DeliveryTags { get; set; }
    /// <summary>The new lease, in seconds from now, 1 to 43200. Default 30.</summary>
    [Range(1, Limits.MaxLeaseSeconds)] public int LeaseSeconds { get; set; } = Limits.DefaultLeaseSeconds;
}
