using System.Buffers.Text;
using System.Text;
using Gateway.Broker;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Server.Contracts;

namespace Gateway.Server.Http;

/// <summary>Conversions between the API's message shapes and the engine's.</summary>
internal static class MessageMapping
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The engine's name for an exchange in a URL: <c>amq.default</c> is the default exchange "".</summary>
    public static string ExchangeName(string routeName) => routeName == Names.DefaultExchangeAlias ? "" : routeName;

    /// <summary>The API's name for an engine exchange name.</summary>
    public static string ApiExchangeName(string name) => name.Length == 0 ? Names.DefaultExchangeAlias : name;

    /// <summary>
    /// The message a validated request describes, its payload decoded once; null when the payload is larger than
    /// <paramref name="maxBytes"/> (the caller answers 413).
    /// </summary>
    public static Message? ToMessage(string exchange, PublishRequest request, int maxBytes)
    {
        var body = request.PayloadEncoding == PayloadEncoding.Base64
            ? Convert.FromBase64String(request.Payload)
            : Encoding.UTF8.GetBytes(request.Payload);
        return body.Length > maxBytes ? null : new Message(exchange, request.RoutingKey, ToProperties(request.Properties), body);
    }

    private static readonly MessageProperties TransientOnly = new() { DeliveryMode = 1 };
    private static readonly MessageProperties PersistentOnly = new() { DeliveryMode = 2 };

    /// <summary>The shared properties of a message that sets at most its delivery mode (1 or 2).</summary>
    public static MessageProperties WithDeliveryMode(int? mode) => mode switch { null => MessageProperties.Empty, 1 => TransientOnly, _ => PersistentOnly };

    public static MessageProperties ToProperties(MessagePropertiesDto? dto) => dto switch
    {
        null => MessageProperties.Empty,
        // The common shapes share one immutable instance instead of one per message.
        { DeliveryMode: var mode, ContentType: null, ContentEncoding: null, Headers: null, Priority: null, CorrelationId: null,
          ReplyTo: null, Expiration: null, MessageId: null, Timestamp: null, Type: null, UserId: null, AppId: null } =>
            mode is null or 1 or 2 ? WithDeliveryMode(mode) : Create(dto),
        _ => Create(dto),
    };

    private static MessageProperties Create(MessagePropertiesDto dto) => new()
    {
        ContentType = dto.ContentType,
        ContentEncoding = dto.ContentEncoding,
        Headers = dto.Headers,
        DeliveryMode = (byte?)dto.DeliveryMode,
        Priority = (byte?)dto.Priority,
        CorrelationId = dto.CorrelationId,
        ReplyTo = dto.ReplyTo,
        Expiration = dto.Expiration,
        MessageId = dto.MessageId,
        Timestamp = dto.Timestamp,
        Type = dto.Type,
        UserId = dto.UserId,
        AppId = dto.AppId,
    };

    private static readonly MessagePropertiesDto EmptyDto = ToDto(MessageProperties.Empty);
    private static readonly MessagePropertiesDto TransientOnlyDto = ToDto(TransientOnly);
    private static readonly MessagePropertiesDto PersistentOnlyDto = ToDto(PersistentOnly);

    /// <summary>
    /// <see cref="ToDto(MessageProperties)"/>, with one instance for each of the shared common shapes: for answers that are serialized at
    /// once and never changed (a WebSocket delivery frame).
    /// </summary>
    public static MessagePropertiesDto ToSharedDto(MessageProperties p) =>
        ReferenceEquals(p, MessageProperties.Empty) ? EmptyDto : ReferenceEquals(p, TransientOnly) ? TransientOnlyDto
        : ReferenceEquals(p, PersistentOnly) ? PersistentOnlyDto : ToDto(p);

    public static MessagePropertiesDto ToDto(MessageProperties p) => new()
    {
        ContentType = p.ContentType,
        ContentEncoding = p.ContentEncoding,
        Headers = p.Headers,
        DeliveryMode = p.DeliveryMode,
        Priority = p.Priority,
        CorrelationId = p.CorrelationId,
        ReplyTo = p.ReplyTo,
        Expiration = p.Expiration,
        MessageId = p.MessageId,
        Timestamp = p.Timestamp,
        Type = p.Type,
        UserId = p.UserId,
        AppId = p.AppId,
    };

    public static DeliveryDto ToDto(Delivery delivery)
    {
        var message = delivery.Message;
        var (payload, encoding) = EncodePayload(message.Body.Span);
        return new DeliveryDto
        {
            DeliveryTag = delivery.Tag.ToString(),
            Redelivered = delivery.Redelivered,
            DeliveryCount = delivery.DeliveryCount,
            Exchange = ApiExchangeName(message.Exchange),
            RoutingKey = message.RoutingKey,
            Properties = ToDto(message.Properties),
            Payload = payload,
            PayloadEncoding = encoding,
        };
    }

    /// <summary>Text when the bytes are valid UTF-8, else base64.</summary>
    public static (string Payload, PayloadEncoding Encoding) EncodePayload(ReadOnlySpan<byte> body)
    {
        if (System.Text.Unicode.Utf8.IsValid(body)) return (StrictUtf8.GetString(body), PayloadEncoding.String);
        return (Convert.ToBase64String(body), PayloadEncoding.Base64);
    }

    /// <summary>True when the string is well-formed UTF-16 (no lone surrogates), i.e. encodable as UTF-8.</summary>
    public static bool IsWellFormed(string? s)
    {
        if (s is null) return true;
        try
        {
            StrictUtf8.GetByteCount(s);
            return true;
        }
        catch (EncoderFallbackException)
        {
            return false;
        }
    }
}
