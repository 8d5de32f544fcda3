using System.Text.Json.Serialization;
using Gateway.Server.Contracts;

namespace Gateway.Server.WebSockets;

/// <summary>A frame from the client (protocol <c>gateway.v1.json</c>, see docs/websocket-protocol.md). Fields per <see cref="Type"/>.</summary>
public sealed class ClientFrame
{
    /// <summary>subscribe, cancel, ack, nack, publish or ping.</summary>
    [JsonRequired] public string Type { get; set; } = "";
    /// <summary>Subscription id (subscribe, cancel) or request id (publish, ping, declare).</summary>
    public string? Id { get; set; }
    /// <summary>declare: survives restarts (default true; false for an exclusive queue, which is never stored).</summary>
    public bool? Durable { get; set; }
    /// <summary>declare: the queue belongs to this socket and is deleted when it closes.</summary>
    public bool? Exclusive { get; set; }
    /// <summary>declare: deleted when its last consumer goes.</summary>
    public bool? AutoDelete { get; set; }
    /// <summary>declare: queue arguments.</summary>
    [JsonConverter(typeof(Json.FieldTableConverter))]
    public IReadOnlyDictionary<string, object?>? Arguments { get; set; }
    /// <summary>subscribe: the queue.</summary>
    public string? Queue { get; set; }
    /// <summary>subscribe: most unacknowledged deliveries, 1 to 10000 (default 100).</summary>
    public int? Prefetch { get; set; }
    /// <summary>subscribe: manual (default) or auto.</summary>
    public AckMode? AckMode { get; set; }
    /// <summary>subscribe: deliveries as JSON text frames (default) or as binary frames with the raw payload.</summary>
    public PayloadFormat? PayloadFormat { get; set; }
    /// <summary>ack, nack: the delivery.</summary>
    public string? DeliveryTag { get; set; }
    /// <summary>ack, nack: every outstanding delivery of the subscription up to this one.</summary>
    public bool? Multiple { get; set; }
    /// <summary>nack: back to the queue (default) or dead-lettered/dropped.</summary>
    public bool? Requeue { get; set; }
    /// <summary>nack with requeue: invisible this many milliseconds first.</summary>
    public long? DelayMilliseconds { get; set; }
    /// <summary>publish: the exchange (amq.default for the default exchange).</summary>
    public string? Exchange { get; set; }
    /// <summary>publish: the routing key.</summary>
    public string? RoutingKey { get; set; }
    /// <summary>publish: the payload (in a binary frame: absent, the payload is the frame's tail).</summary>
    public string? Payload { get; set; }
    /// <summary>publish: how the payload is written (absent in a binary frame).</summary>
    public PayloadEncoding? PayloadEncoding { get; set; }
    /// <summary>publish: AMQP properties.</summary>
    public MessagePropertiesDto? Properties { get; set; }
    /// <summary>publish: answer 422 when no queue takes it.</summary>
    public bool? Mandatory { get; set; }
}

/// <summary>A frame to the client. Only the fields of its <see cref="Type"/> are written.</summary>
public sealed class ServerFrame
{
    /// <summary>subscribed, delivery, confirm, declared, cancelled, suspended, restored, pong or error.</summary>
    public required string Type { get; set; }
    /// <summary>The subscription or request this answers.</summary>
    public string? Id { get; set; }
    /// <summary>delivery: the subscription id.</summary>
    public string? Subscription { get; set; }
    /// <summary>delivery: its tag.</summary>
    public string? DeliveryTag { get; set; }
    /// <summary>delivery: delivered before.</summary>
    public bool? Redelivered { get; set; }
    /// <summary>delivery: deliveries so far, this one included.</summary>
    public int? DeliveryCount { get; set; }
    /// <summary>delivery: the exchange it was published to.</summary>
    public string? Exchange { get; set; }
    /// <summary>delivery: its routing key.</summary>
    public string? RoutingKey { get; set; }
    /// <summary>delivery: AMQP properties.</summary>
    public MessagePropertiesDto? Properties { get; set; }
    /// <summary>delivery: the payload (absent in the header of a binary delivery, whose tail is the payload).</summary>
    public string? Payload { get; set; }
    /// <summary>delivery: how the payload is written (absent in the header of a binary delivery).</summary>
    public PayloadEncoding? PayloadEncoding { get; set; }
    /// <summary>confirm: routed to at least one queue.</summary>
    public bool? Routed { get; set; }
    /// <summary>confirm: how many queues took it.</summary>
    public int? Queues { get; set; }
    /// <summary>declared: the queue's name.</summary>
    public string? Queue { get; set; }
    /// <summary>cancelled: client, queue-deleted or access-refused; suspended: backend-unavailable.</summary>
    public string? Reason { get; set; }
    /// <summary>error: the HTTP status the same error has in the REST API.</summary>
    public int? Status { get; set; }
    /// <summary>error: what went wrong; cancelled with access-refused, suspended: why.</summary>
    public string? Detail { get; set; }
}
