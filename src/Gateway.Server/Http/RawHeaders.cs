using System.Globalization;
using System.Text;
using Gateway.Broker.Messages;
using Microsoft.Extensions.Primitives;

namespace Gateway.Server.Http;

/// <summary>
/// AMQP properties carried as HTTP headers by the raw publish and raw pull endpoints. <c>Content-Type</c> and
/// <c>Content-Encoding</c> map to themselves; the others are <c>Amqp-*</c>; application headers are
/// <c>Amqp-Header-{name}</c> (string values). Values are percent-encoded UTF-8 (RFC 3986) where they contain
/// anything but printable ASCII or '%'; plain ASCII travels as is.
/// </summary>
internal static class RawHeaders
{
    public const string DeliveryMode = "Amqp-Delivery-Mode";
    public const string Priority = "Amqp-Priority";
    public const string CorrelationId = "Amqp-Correlation-Id";
    public const string ReplyTo = "Amqp-Reply-To";
    public const string Expiration = "Amqp-Expiration";
    public const string MessageId = "Amqp-Message-Id";
    public const string Timestamp = "Amqp-Timestamp";
    public const string Type = "Amqp-Type";
    public const string UserId = "Amqp-User-Id";
    public const string AppId = "Amqp-App-Id";
    public const string HeaderPrefix = "Amqp-Header-";
    public const string DeliveryTag = "Amqp-Delivery-Tag";
    public const string Redelivered = "Amqp-Redelivered";
    public const string DeliveryCount = "Amqp-Delivery-Count";
    public const string Exchange = "Amqp-Exchange";
    public const string RoutingKey = "Amqp-Routing-Key";

    /// <summary>Reads the properties from request headers; returns an error text when a value is malformed.</summary>
    public static MessageProperties Read(IHeaderDictionary headers, out string? error)
    {
        error = null;
        Dictionary<string, object?>? appHeaders = null;
        foreach (var (name, value) in headers)
        {
            if (!name.StartsWith(HeaderPrefix, StringComparison.OrdinalIgnoreCase) || name.Length == HeaderPrefix.Length) continue;
            (appHeaders ??= new(StringComparer.Ordinal))[Decode(name[HeaderPrefix.Length..]).ToLowerInvariant()] = Decode(value.ToString());
        }
        // Header values travel as text; the delay header is a number of milliseconds to the broker.
        if (appHeaders?.GetValueOrDefault(Message.DelayHeader) is string delay)
        {
            if (long.TryParse(delay, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms <= uint.MaxValue) appHeaders[Message.DelayHeader] = ms;
            else error ??= $"Header '{HeaderPrefix}{Message.DelayHeader}' must be a delay in milliseconds, an integer from 0 to {uint.MaxValue}.";
        }
        var properties = new MessageProperties
        {
            ContentType = Text(headers.ContentType),
            ContentEncoding = Text(headers.ContentEncoding),
            Headers = appHeaders,
            DeliveryMode = Number(headers, DeliveryMode, 1, 2, ref error) is { } mode ? (byte)mode : null,
            Priority = Number(headers, Priority, 0, 255, ref error) is { } priority ? (byte)priority : null,
            CorrelationId = Text(headers[CorrelationId]),
            ReplyTo = Text(headers[ReplyTo]),
            Expiration = Number(headers, Expiration, 0, int.MaxValue, ref error)?.ToString(CultureInfo.InvariantCulture),
            MessageId = Text(headers[MessageId]),
            Timestamp = Number(headers, Timestamp, 0, long.MaxValue, ref error),
            Type = Text(headers[Type]),
            UserId = Text(headers[UserId]),
            AppId = Text(headers[AppId]),
        };
        foreach (var text in new[] { properties.ContentType, properties.ContentEncoding, properties.CorrelationId, properties.ReplyTo,
                     properties.MessageId, properties.Type, properties.UserId, properties.AppId })
            if (text is not null && Encoding.UTF8.GetByteCount(text) > 255)
                error ??= "AMQP property headers must be at most 255 bytes of UTF-8.";
        return properties;
    }

    /// <summary>Writes the properties to response headers.</summary>
    public static void Write(IHeaderDictionary headers, MessageProperties p)
    {
        headers.ContentType = p.ContentType ?? "application/octet-stream";
        if (p.ContentEncoding is not null) headers.ContentEncoding = Encode(p.ContentEncoding);
        ForEach(p, headers, static (h, name, value) => h[name] = value);
    }

    /// <summary>
    /// Hands every property but the content type and encoding to <paramref name="add"/> as an <c>Amqp-*</c> header
    /// name and its encoded value (webhooks write them into their requests the same way).
    /// </summary>
    public static void ForEach<TState>(MessageProperties p, TState state, Action<TState, string, string> add)
    {
        void Set(string name, string? value)
        {
            if (value is not null) add(state, name, Encode(value));
        }
        Set(DeliveryMode, p.DeliveryMode?.ToString(CultureInfo.InvariantCulture));
        Set(Priority, p.Priority?.ToString(CultureInfo.InvariantCulture));
        Set(CorrelationId, p.CorrelationId);
        Set(ReplyTo, p.ReplyTo);
        Set(Expiration, p.Expiration);
        Set(MessageId, p.MessageId);
        Set(Timestamp, p.Timestamp?.ToString(CultureInfo.InvariantCulture));
        Set(Type, p.Type);
        Set(UserId, p.UserId);
        Set(AppId, p.AppId);
        if (p.Headers is null) return;
        foreach (var (name, value) in p.Headers)
            add(state, HeaderPrefix + Encode(name), Encode(value switch
            {
                null => "",
                string s => s,
                bool b => b ? "true" : "false",
                long l => l.ToString(CultureInfo.InvariantCulture),
                double d => d.ToString("R", CultureInfo.InvariantCulture),
                byte[] bytes => Convert.ToBase64String(bytes),
                _ => value.ToString() ?? "",
            }));
    }

    /// <summary>
    /// Passes the delivery's own headers (exchange, routing key, redelivered, delivery count), encoded, to
    /// <paramref name="add"/>: the raw pull's response and a webhook's request carry the same ones.
    /// </summary>
    public static void ForEachDeliveryHeader<TState>(Gateway.Broker.Queues.Delivery delivery, TState state, Action<TState, string, string> add)
    {
        add(state, Exchange, Encode(MessageMapping.ApiExchangeName(delivery.Message.Exchange)));
        add(state, RoutingKey, Encode(delivery.Message.RoutingKey));
        add(state, Redelivered, delivery.Redelivered ? "true" : "false");
        add(state, DeliveryCount, delivery.DeliveryCount.ToString(CultureInfo.InvariantCulture));
    }

    public static void Set(IHeaderDictionary headers, string name, string? value)
    {
        if (value is not null) headers[name] = Encode(value);
    }

    public static string Encode(string value)
    {
        foreach (var c in value)
            if (c is < ' ' or > '~' or '%') return Uri.EscapeDataString(value);
        return value;
    }

    private static string Decode(string value) => value.Contains('%') ? Uri.UnescapeDataString(value) : value;

    private static string? Text(StringValues value) => StringValues.IsNullOrEmpty(value) ? null : Decode(value.ToString());

    private static long? Number(IHeaderDictionary headers, string name, long min, long max, ref string? error)
    {
        var raw = headers[name];
        if (StringValues.IsNullOrEmpty(raw)) return null;
        if (long.TryParse(raw.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max) return n;
        error ??= $"Header '{name}' must be an integer from {min} to {max}.";
        return null;
    }
}
