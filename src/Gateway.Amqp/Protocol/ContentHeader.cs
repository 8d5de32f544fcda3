using Gateway.Broker.Messages;

namespace Gateway.Amqp.Protocol;

/// <summary>
/// The basic class's content header (spec 4.2.6.1): class id, weight, body size and the property flags and values,
/// mapped onto the engine's <see cref="MessageProperties"/> — the same properties the HTTP API exposes.
/// </summary>
/// <remarks>
/// Header values are kept as the engine keeps them (<see cref="HeaderValues"/>): integers of every width arrive as
/// 64-bit (<c>l</c>), floats as doubles (<c>d</c>), decimals as doubles and timestamps as 64-bit integers, exactly as
/// over HTTP; strings, booleans, byte arrays, arrays and nested tables keep their types. The deprecated
/// cluster-id property is read and dropped.
/// </remarks>
internal static class ContentHeader
{
    private const ushort ContentTypeFlag = 1 << 15, ContentEncodingFlag = 1 << 14, HeadersFlag = 1 << 13, DeliveryModeFlag = 1 << 12,
        PriorityFlag = 1 << 11, CorrelationIdFlag = 1 << 10, ReplyToFlag = 1 << 9, ExpirationFlag = 1 << 8, MessageIdFlag = 1 << 7,
        TimestampFlag = 1 << 6, TypeFlag = 1 << 5, UserIdFlag = 1 << 4, AppIdFlag = 1 << 3, ClusterIdFlag = 1 << 2, ContinuationFlag = 1;

    /// <summary>Reads a header frame's payload: class id, body size and properties.</summary>
    public static (ushort ClassId, ulong BodySize, MessageProperties Properties) Read(ReadOnlySpan<byte> payload)
    {
        var r = new AmqpReader(payload);
        var classId = r.ReadShort();
        r.ReadShort(); // weight, unused
        var bodySize = r.ReadLongLong();
        var flags = r.ReadShort();
        if ((flags & ContinuationFlag) != 0) AmqpException.ThrowSyntax("property flags continue beyond 15 properties (basic has 14)");
        if (flags == 0)
        {
            r.End();
            return (classId, bodySize, MessageProperties.Empty);
        }
        var p = new MessageProperties
        {
            ContentType = (flags & ContentTypeFlag) != 0 ? r.ReadShortStr() : null,
            ContentEncoding = (flags & ContentEncodingFlag) != 0 ? r.ReadShortStr() : null,
            Headers = (flags & HeadersFlag) != 0 ? ToEngine(r.ReadTable()) : null,
            DeliveryMode = (flags & DeliveryModeFlag) != 0 ? r.ReadOctet() : null,
            Priority = (flags & PriorityFlag) != 0 ? r.ReadOctet() : null,
            CorrelationId = (flags & CorrelationIdFlag) != 0 ? r.ReadShortStr() : null,
            ReplyTo = (flags & ReplyToFlag) != 0 ? r.ReadShortStr() : null,
            Expiration = (flags & ExpirationFlag) != 0 ? r.ReadShortStr() : null,
            MessageId = (flags & MessageIdFlag) != 0 ? r.ReadShortStr() : null,
            Timestamp = (flags & TimestampFlag) != 0 ? (long)r.ReadLongLong() : null,
            Type = (flags & TypeFlag) != 0 ? r.ReadShortStr() : null,
            UserId = (flags & UserIdFlag) != 0 ? r.ReadShortStr() : null,
            AppId = (flags & AppIdFlag) != 0 ? r.ReadShortStr() : null,
        };
        if ((flags & ClusterIdFlag) != 0) r.ReadShortStrBytes();
        r.End();
        return (classId, bodySize, p);
    }

    /// <summary>Writes a header frame for a basic-class message.</summary>
    public static void Write(FrameBuffer w, ushort channel, MessageProperties p, int bodySize)
    {
        var at = w.BeginFrame(FrameType.Header, channel);
        w.WriteShort(ClassId.Basic);
        w.WriteShort(0);
        w.WriteLongLong((ulong)bodySize);
        if (ReferenceEquals(p, MessageProperties.Empty))
        {
            w.WriteShort(0);
            w.EndFrame(at);
            return;
        }
        var flags = (ushort)((p.ContentType is not null ? ContentTypeFlag : 0) | (p.ContentEncoding is not null ? ContentEncodingFlag : 0) |
                             (p.Headers is not null ? HeadersFlag : 0) | (p.DeliveryMode is not null ? DeliveryModeFlag : 0) |
                             (p.Priority is not null ? PriorityFlag : 0) | (p.CorrelationId is not null ? CorrelationIdFlag : 0) |
                             (p.ReplyTo is not null ? ReplyToFlag : 0) | (p.Expiration is not null ? ExpirationFlag : 0) |
                             (p.MessageId is not null ? MessageIdFlag : 0) | (p.Timestamp is not null ? TimestampFlag : 0) |
                             (p.Type is not null ? TypeFlag : 0) | (p.UserId is not null ? UserIdFlag : 0) | (p.AppId is not null ? AppIdFlag : 0));
        w.WriteShort(flags);
        if (p.ContentType is not null) w.WriteShortStr(p.ContentType);
        if (p.ContentEncoding is not null) w.WriteShortStr(p.ContentEncoding);
        if (p.Headers is not null) w.WriteTable(p.Headers);
        if (p.DeliveryMode is { } mode) w.WriteOctet(mode);
        if (p.Priority is { } priority) w.WriteOctet(priority);
        if (p.CorrelationId is not null) w.WriteShortStr(p.CorrelationId);
        if (p.ReplyTo is not null) w.WriteShortStr(p.ReplyTo);
        if (p.Expiration is not null) w.WriteShortStr(p.Expiration);
        if (p.MessageId is not null) w.WriteShortStr(p.MessageId);
        if (p.Timestamp is { } ts) w.WriteLongLong((ulong)ts);
        if (p.Type is not null) w.WriteShortStr(p.Type);
        if (p.UserId is not null) w.WriteShortStr(p.UserId);
        if (p.AppId is not null) w.WriteShortStr(p.AppId);
        w.EndFrame(at);
    }

    /// <summary>A decoded table with its values as the engine holds them (see the remarks); null stays null.</summary>
    public static Dictionary<string, object?>? ToEngine(Dictionary<string, object?>? table)
    {
        if (table is null) return null;
        foreach (var key in table.Keys.ToList()) table[key] = ToEngineValue(table[key]);
        return table;
    }

    private static object? ToEngineValue(object? value) => value switch
    {
        null or string or long or double or bool or byte[] => value,
        sbyte or byte or short or ushort or int or uint => Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture),
        float f => (double)f,
        decimal m => (double)m,
        AmqpTimestamp t => t.UnixSeconds,
        Dictionary<string, object?> t => ToEngine(t),
        List<object?> list => list.ConvertAll(ToEngineValue),
        _ => value,
    };
}
