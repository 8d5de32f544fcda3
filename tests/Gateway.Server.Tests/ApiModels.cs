using System.Text.Json;

namespace Gateway.Server.Tests;

// The API's answers as a client reads them: written from the contract in API.md, not shared with the server's
// types, so that a renamed or retyped field fails here. Argument and property tables stay raw JSON so that value
// types (1 vs 1.0 vs "1") can be checked.

internal sealed record ApiExchange(string Name, string Vhost, string Type, bool Durable, bool AutoDelete, bool Internal, JsonElement Arguments,
    ApiExchangeRates? Rates = null);

internal sealed record ApiExchangeRates(double PublishIn, double PublishOut);

internal sealed record ApiRates(double Publish, double Deliver, double Ack, double Redeliver, double DeadLetter);

internal sealed record ApiQueueTotals(long Messages, long Ready, long Unacked, long Delayed);

internal sealed record ApiObjectTotals(int Vhosts, int Exchanges, int Queues, int Bindings, int Consumers);

internal sealed record ApiOverview(ApiQueueTotals QueueTotals, ApiObjectTotals ObjectTotals, ApiRates Rates);

internal sealed record ApiQueue(string Name, string Vhost, bool Durable, bool Exclusive, bool AutoDelete, JsonElement Arguments,
    int Messages, int MessagesReady, int MessagesUnacknowledged, int MessagesDelayed, long MessageBytesReady, int Consumers,
    long MessageBytes = 0, double? OldestReadyAgeSeconds = null, ApiRates? Rates = null);

internal sealed record ApiBinding(string Id, string Vhost, string Source, string Destination, string DestinationType, string RoutingKey,
    JsonElement Arguments);

internal sealed record ApiPublishResult(bool Routed, int Queues, bool Returned, bool Rejected = false);

internal sealed record ApiBatchResult(List<ApiPublishResult> Results);

internal sealed record ApiPurgeResult(int Purged);

internal sealed record ApiDelivery(string DeliveryTag, bool Redelivered, int DeliveryCount, string Exchange, string RoutingKey,
    JsonElement Properties, string Payload, string PayloadEncoding)
{
    /// <summary>The payload's bytes, decoded according to <see cref="PayloadEncoding"/>.</summary>
    public byte[] Body => PayloadEncoding switch
    {
        "string" => System.Text.Encoding.UTF8.GetBytes(Payload),
        "base64" => Convert.FromBase64String(Payload),
        _ => throw new InvalidOperationException($"Unknown payloadEncoding '{PayloadEncoding}'."),
    };
}
