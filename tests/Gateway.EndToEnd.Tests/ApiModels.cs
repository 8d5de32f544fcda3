using System.Text.Json;

namespace Gateway.EndToEnd.Tests;

// The API's JSON as a client writes and reads it (see ../shared/API.md); only the fields these tests use.

public sealed record MessageProperties(int? DeliveryMode = null, string? Expiration = null, Dictionary<string, JsonElement>? Headers = null)
{
    public static readonly MessageProperties Persistent = new(DeliveryMode: 2);
    public static readonly MessageProperties Transient = new(DeliveryMode: 1);
}

public sealed record PublishEnvelope(string RoutingKey, string Payload, MessageProperties? Properties = null, bool Mandatory = false);

public sealed record PublishAnswer(bool Routed, int Queues, bool Returned);

public sealed record BatchPublishAnswer(List<PublishAnswer> Results);

public sealed record GetRequest(int Max, string AckMode, int WaitSeconds = 0, int? LeaseSeconds = null);

public sealed record Delivery(
    string DeliveryTag,
    bool Redelivered,
    int DeliveryCount,
    string Exchange,
    string RoutingKey,
    MessageProperties? Properties,
    string Payload,
    string PayloadEncoding);

public sealed record QueueDeclaration(bool? Durable = null, bool? AutoDelete = null, Dictionary<string, object>? Arguments = null);

public sealed record QueueInfo(string Name, bool Durable, bool AutoDelete, int Messages, int MessagesReady, int MessagesUnacknowledged,
    int Consumers = 0, int MessagesDelayed = 0, Dictionary<string, JsonElement>? Arguments = null);

public sealed record ExchangeDeclaration(string Type, bool? Durable = null, bool? AutoDelete = null);

public sealed record ExchangeInfo(string Name, string Type, bool Durable, bool AutoDelete, bool Internal);

public sealed record BindingDeclaration(string Source, string Destination, string RoutingKey, string DestinationType = "queue");

public sealed record BindingInfo(string Id, string Source, string Destination, string DestinationType, string RoutingKey);
