using System.Text.Json.Serialization;
using Gateway.Server.Json;

namespace Gateway.Server.Contracts;

/// <summary>A virtual host.</summary>
public sealed class VhostInfo
{
    /// <summary>Its name.</summary>
    public required string Name { get; set; }
}

/// <summary>An exchange declaration.</summary>
public sealed class ExchangeDeclareRequest
{
    /// <summary>The exchange type.</summary>
    public required ExchangeKind Type { get; set; }
    /// <summary>Survives restarts. Default true.</summary>
    public bool Durable { get; set; } = true;
    /// <summary>Deleted when its last binding (as source) is removed. Default false.</summary>
    public bool AutoDelete { get; set; }
    /// <summary>Only other exchanges may route to it; direct publishing is refused. Default false.</summary>
    public bool Internal { get; set; }
    /// <summary>Arguments, e.g. <c>alternate-exchange</c>.</summary>
    [JsonConverter(typeof(FieldTableConverter))]
    public IReadOnlyDictionary<string, object?>? Arguments { get; set; }
}

/// <summary>An exchange.</summary>
public sealed class ExchangeInfo
{
    /// <summary>Its name (<c>amq.default</c> for the default exchange).</summary>
    public required string Name { get; set; }
    /// <summary>Its vhost.</summary>
    public required string Vhost { get; set; }
    /// <summary>Its type.</summary>
    public required ExchangeKind Type { get; set; }
    /// <summary>Survives restarts.</summary>
    public required bool Durable { get; set; }
    /// <summary>Deleted with its last binding.</summary>
    public required bool AutoDelete { get; set; }
    /// <summary>Not publishable directly.</summary>
    public required bool Internal { get; set; }
    /// <summary>Its arguments.</summary>
    [JsonConverter(typeof(FieldTableConverter))]
    public required IReadOnlyDictionary<string, object?> Arguments { get; set; }
    /// <summary>Message rates per second over the sliding window.</summary>
    public required ExchangeRatesInfo Rates { get; set; }
}

/// <summary>A queue declaration.</summary>
public sealed class QueueDeclareRequest
{
    /// <summary>Survives restarts. Default true.</summary>
    public bool Durable { get; set; } = true;
    /// <summary>Owned by one connection: must be false over HTTP (declare exclusive queues over the WebSocket).</summary>
    public bool Exclusive { get; set; }
    /// <summary>Deleted when its last consumer goes. Default false.</summary>
    public bool AutoDelete { get; set; }
    /// <summary>Arguments. Keys starting with <c>x-</c> are reserved for broker features.</summary>
    [JsonConverter(typeof(FieldTableConverter))]
    public IReadOnlyDictionary<string, object?>? Arguments { get; set; }
}

/// <summary>A queue with its counts.</summary>
public sealed class QueueInfo
{
    /// <summary>Its name.</summary>
    public required string Name { get; set; }
    /// <summary>Its vhost.</summary>
    public required string Vhost { get; set; }
    /// <summary>Survives restarts.</summary>
    public required bool Durable { get; set; }
    /// <summary>Owned by one connection.</summary>
    public required bool Exclusive { get; set; }
    /// <summary>Deleted when its last consumer goes.</summary>
    public required bool AutoDelete { get; set; }
    /// <summary>Its arguments.</summary>
    [JsonConverter(typeof(FieldTableConverter))]
    public required IReadOnlyDictionary<string, object?> Arguments { get; set; }
    /// <summary>Messages ready + unacknowledged + delayed.</summary>
    public required int Messages { get; set; }
    /// <summary>Messages waiting for delivery.</summary>
    public required int MessagesReady { get; set; }
    /// <summary>Messages delivered, not yet acknowledged.</summary>
    public required int MessagesUnacknowledged { get; set; }
    /// <summary>Messages held back until their delay ends (x-delay header, or a nack with delayMilliseconds).</summary>
    public required int MessagesDelayed { get; set; }
    /// <summary>Payload bytes of the ready messages.</summary>
    public required long MessageBytesReady { get; set; }
    /// <summary>Payload bytes of the ready messages (the same figure as <c>messageBytesReady</c>, under the overview's name).</summary>
    public required long MessageBytes { get; set; }
    /// <summary>
    /// Seconds the oldest ready message has waited (a requeued message counts from its first arrival, a message
    /// recovered at start from its recovery); null when no message is ready.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public required double? OldestReadyAgeSeconds { get; set; }
    /// <summary>Active subscriptions.</summary>
    public required int Consumers { get; set; }
    /// <summary>Message rates per second over the sliding window.</summary>
    public required MessageRatesInfo Rates { get; set; }
}

/// <summary>A binding to create.</summary>
public sealed class BindingRequest
{
    /// <summary>The source exchange.</summary>
    public required string Source { get; set; }
    /// <summary>The destination queue or exchange.</summary>
    public required string Destination { get; set; }
    /// <summary><c>queue</c> (default) or <c>exchange</c>.</summary>
    public DestinationKind DestinationType { get; set; } = DestinationKind.Queue;
    /// <summary>The binding key (topic pattern for topic exchanges), 0 to 255 bytes. Default "".</summary>
    public string RoutingKey { get; set; } = "";
    /// <summary>Arguments (headers exchanges match on them).</summary>
    [JsonConverter(typeof(FieldTableConverter))]
    public IReadOnlyDictionary<string, object?>? Arguments { get; set; }
}

/// <summary>A binding.</summary>
public sealed class BindingInfo
{
    /// <summary>Stable id, derived from the definition: the same binding always has the same id.</summary>
    public required string Id { get; set; }
    /// <summary>Its vhost.</summary>
    public required string Vhost { get; set; }
    /// <summary>The source exchange.</summary>
    public required string Source { get; set; }
    /// <summary>The destination.</summary>
    public required string Destination { get; set; }
    /// <summary>What the destination is.</summary>
    public required DestinationKind DestinationType { get; set; }
    /// <summary>The binding key.</summary>
    public required string RoutingKey { get; set; }
    /// <summary>Its arguments.</summary>
    [JsonConverter(typeof(FieldTableConverter))]
    public required IReadOnlyDictionary<string, object?> Arguments { get; set; }
}

/// <summary>The result of a purge.</summary>
public sealed class PurgeResult
{
    /// <summary>How many ready messages were dropped.</summary>
    public required int Purged { get; set; }
}
