using System.Text;
using Gateway.Broker.Messages;
using RabbitMQ.Client;

namespace Gateway.RabbitMq.Messages;

/// <summary>
/// Gateway messages and field tables to RabbitMQ.Client's and back. Bodies are never re-encoded.
/// </summary>
/// <remarks>
/// Field-table values: the gateway holds strings, longs, doubles, bools, byte[] (binary), lists and nested tables.
/// RabbitMQ.Client reads every AMQP long string ('S') as byte[], so strings come back as byte[]; they are turned back
/// into strings when they are valid UTF-8. Gateway binary values are sent as byte arrays ('x', BinaryTableValue) and
/// come back as byte[] with no such guess. Integers and floats of any width come back as long and double.
/// </remarks>
internal static class AmqpMapping
{
    /// <summary>The header RabbitMQ.Client adds to every tracked publish; consumers never see it.</summary>
    private const string ClientSequenceHeader = Constants.PublishSequenceNumberHeader;

    /// <summary>The header quorum queues add to a message that was returned (nacked or its consumer went away).</summary>
    public const string DeliveryCountHeader = "x-delivery-count";

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    public static BasicProperties ToBasicProperties(MessageProperties p, string messageId)
    {
        var props = new BasicProperties
        {
            ContentType = p.ContentType,
            ContentEncoding = p.ContentEncoding,
            CorrelationId = p.CorrelationId,
            ReplyTo = p.ReplyTo,
            Expiration = p.Expiration,
            MessageId = messageId,
            Type = p.Type,
            UserId = p.UserId,
            AppId = p.AppId,
        };
        if (p.DeliveryMode is { } mode) props.DeliveryMode = mode == 2 ? DeliveryModes.Persistent : DeliveryModes.Transient;
        if (p.Priority is { } priority) props.Priority = priority;
        if (p.Timestamp is { } ts) props.Timestamp = new AmqpTimestamp(ts);
        if (p.Headers is { Count: > 0 } headers) props.Headers = ToTable(headers);
        return props;
    }

    public static MessageProperties FromBasicProperties(IReadOnlyBasicProperties p, out long? deliveryCount)
    {
        deliveryCount = null;
        Dictionary<string, object?>? headers = null;
        if (p.Headers is { Count: > 0 } table)
        {
            headers = new Dictionary<string, object?>(table.Count, StringComparer.Ordinal);
            foreach (var (key, value) in table)
            {
                if (key == ClientSequenceHeader) continue;
                if (key == DeliveryCountHeader)
                {
                    if (FromValue(value) is long count) deliveryCount = count;
                    continue;
                }
                headers[key] = FromValue(value);
            }
            if (headers.Count == 0) headers = null;
        }
        return new MessageProperties
        {
            ContentType = p.ContentType,
            ContentEncoding = p.ContentEncoding,
            Headers = headers,
            DeliveryMode = p.IsDeliveryModePresent() ? (byte)p.DeliveryMode : null,
            Priority = p.IsPriorityPresent() ? p.Priority : null,
            CorrelationId = p.CorrelationId,
            ReplyTo = p.ReplyTo,
            Expiration = p.Expiration,
            MessageId = p.MessageId,
            Timestamp = p.IsTimestampPresent() ? p.Timestamp.UnixTime : null,
            Type = p.Type,
            UserId = p.UserId,
            AppId = p.AppId,
        };
    }

    /// <summary>A gateway table as a RabbitMQ.Client table (null stays null).</summary>
    public static Dictionary<string, object?>? ToTable(IReadOnlyDictionary<string, object?>? table)
    {
        if (table is null) return null;
        var result = new Dictionary<string, object?>(table.Count, StringComparer.Ordinal);
        foreach (var (key, value) in table) result[key] = ToValue(value);
        return result;
    }

    private static object? ToValue(object? value) => value switch
    {
        null => null,
        string or long or double or bool => value,
        byte[] bytes => new BinaryTableValue(bytes),
        IReadOnlyDictionary<string, object?> t => ToTable(t),
        IReadOnlyList<object?> list => list.Select(ToValue).ToList(),
        int i => (long)i,
        _ => value,
    };

    /// <summary>A value RabbitMQ.Client decoded, in the gateway's representation.</summary>
    public static object? FromValue(object? value) => value switch
    {
        null => null,
        byte[] bytes => TryUtf8(bytes),
        BinaryTableValue binary => binary.Bytes,
        string s => s,
        bool b => b,
        sbyte or byte or short or ushort or int or uint or long => Convert.ToInt64(value),
        ulong u => (long)u,
        float f => (double)f,
        double d => d,
        decimal m => (double)m,
        AmqpTimestamp ts => ts.UnixTime,
        IDictionary<string, object?> t => t.ToDictionary(kv => kv.Key, kv => FromValue(kv.Value), StringComparer.Ordinal),
        System.Collections.IList list => list.Cast<object?>().Select(FromValue).ToList(),
        _ => value.ToString(),
    };

    private static object TryUtf8(byte[] bytes)
    {
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException) { return bytes; }
    }
}
