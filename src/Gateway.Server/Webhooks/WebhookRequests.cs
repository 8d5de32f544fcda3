using Gateway.Broker;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Globalization;
using System.Text.Json;
using Gateway.Broker.Queues;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Server.Json;

namespace Gateway.Server.Webhooks;

/// <summary>Builds the POST of one attempt: body by format, property headers, and the Standard Webhooks headers.</summary>
internal static class WebhookRequests
{
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";
    public const string AttemptHeader = "webhook-attempt";

    private static readonly string UserAgent = "Gateway-Webhooks/1";

    /// <summary>
    /// The message's stable id: <c>msg_</c> + base64url of its queue's durable id (or, for a queue kept in memory, its
    /// incarnation) and its position in the queue. The same on every attempt, every redelivery and after a restart;
    /// never the id of another message.
    /// </summary>
    public static string WebhookId(IBrokerQueue queue, Delivery delivery)
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, queue.StableId);
        BinaryPrimitives.WriteInt64BigEndian(bytes[8..], delivery.Sequence);
        return "msg_" + Base64Url.EncodeToString(bytes);
    }

    /// <summary>The body a delivery is sent with (computed once per delivery; every attempt sends the same bytes).</summary>
    public static ReadOnlyMemory<byte> Body(WebhookFormat format, WebhookKey key, Delivery delivery, string id)
    {
        if (format != WebhookFormat.Json) return delivery.Message.Body;
        var message = delivery.Message;
        var (payload, encoding) = MessageMapping.EncodePayload(message.Body.Span);
        return JsonSerializer.SerializeToUtf8Bytes(new WebhookEnvelope
        {
            Id = id,
            Vhost = key.Vhost,
            Queue = key.Queue,
            Exchange = MessageMapping.ApiExchangeName(message.Exchange),
            RoutingKey = message.RoutingKey,
            Redelivered = delivery.Redelivered,
            DeliveryCount = delivery.DeliveryCount,
            Properties = MessageMapping.ToDto(message.Properties),
            Payload = payload,
            PayloadEncoding = encoding,
        }, GatewayJsonContext.Default.WebhookEnvelope);
    }

    /// <summary>The request of one attempt, signed with each key given (the current secret, then a previous one in its grace period).</summary>
    public static HttpRequestMessage Build(Uri url, WebhookFormat format, WebhookKey key, Delivery delivery, string id, ReadOnlyMemory<byte> body,
        int attempt, long timestamp, IReadOnlyList<byte[]> keys)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Version = System.Net.HttpVersion.Version11, Content = new ReadOnlyMemoryContent(body) };
        var headers = request.Headers;
        var content = request.Content.Headers;
        headers.TryAddWithoutValidation("User-Agent", UserAgent);
        headers.TryAddWithoutValidation(IdHeader, id);
        headers.TryAddWithoutValidation(TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        headers.TryAddWithoutValidation(AttemptHeader, attempt.ToString(CultureInfo.InvariantCulture));
        if (keys.Count > 0)
            headers.TryAddWithoutValidation(SignatureHeader, string.Join(' ', keys.Select(k => WebhookSignature.Sign(k, id, timestamp, body.Span))));

        var message = delivery.Message;
        var properties = message.Properties;
        if (format == WebhookFormat.Json)
        {
            content.TryAddWithoutValidation("Content-Type", "application/json");
            return request;
        }
        content.TryAddWithoutValidation("Content-Type", RawHeaders.Encode(properties.ContentType ?? "application/octet-stream"));
        if (properties.ContentEncoding is not null) content.TryAddWithoutValidation("Content-Encoding", RawHeaders.Encode(properties.ContentEncoding));
        RawHeaders.ForEach(properties, headers, static (h, name, value) => h.TryAddWithoutValidation(name, value));
        RawHeaders.ForEachDeliveryHeader(delivery, headers, static (h, name, value) => h.TryAddWithoutValidation(name, value));
        if (format == WebhookFormat.CloudEvents)
        {
            headers.TryAddWithoutValidation("ce-specversion", "1.0");
            headers.TryAddWithoutValidation("ce-id", id);
            headers.TryAddWithoutValidation("ce-source", RawHeaders.Encode(
                $"/api/vhosts/{Uri.EscapeDataString(key.Vhost)}/exchanges/{Uri.EscapeDataString(MessageMapping.ApiExchangeName(message.Exchange))}"));
            headers.TryAddWithoutValidation("ce-type", RawHeaders.Encode(properties.Type ?? "gateway.message"));
            if (message.RoutingKey.Length > 0) headers.TryAddWithoutValidation("ce-subject", RawHeaders.Encode(message.RoutingKey));
            if (properties.Timestamp is { } seconds && seconds <= 253_402_300_799)
                headers.TryAddWithoutValidation("ce-time", DateTimeOffset.FromUnixTimeSeconds(seconds).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        }
        return request;
    }
}
