using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Gateway.Broker.Messages;

namespace Gateway.Storage.Journal;

/// <summary>
/// A compact, type-preserving binary form of message properties and field tables (arguments, headers), so that a
/// long stays a long and a double a double across a restart. Varint lengths, UTF-8 strings, one tag byte per value.
/// </summary>
internal static class FieldCodec
{
    [Flags]
    private enum Present : ushort
    {
        ContentType = 1, ContentEncoding = 2, Headers = 4, DeliveryMode = 8, Priority = 16, CorrelationId = 32,
        ReplyTo = 64, Expiration = 128, MessageId = 256, Timestamp = 512, Type = 1024, UserId = 2048, AppId = 4096,
    }

    public static byte[]? EncodeProperties(MessageProperties p)
    {
        if (ReferenceEquals(p, MessageProperties.Empty)) return null;
        var w = new ArrayBufferWriter<byte>(64);
        Present flags = 0;
        if (p.ContentType is not null) flags |= Present.ContentType;
        if (p.ContentEncoding is not null) flags |= Present.ContentEncoding;
        if (p.Headers is not null) flags |= Present.Headers;
        if (p.DeliveryMode is not null) flags |= Present.DeliveryMode;
        if (p.Priority is not null) flags |= Present.Priority;
        if (p.CorrelationId is not null) flags |= Present.CorrelationId;
        if (p.ReplyTo is not null) flags |= Present.ReplyTo;
        if (p.Expiration is not null) flags |= Present.Expiration;
        if (p.MessageId is not null) flags |= Present.MessageId;
        if (p.Timestamp is not null) flags |= Present.Timestamp;
        if (p.Type is not null) flags |= Present.Type;
        if (p.UserId is not null) flags |= Present.UserId;
        if (p.AppId is not null) flags |= Present.AppId;
        if (flags == 0) return null;
        WriteVarint(w, (ulong)flags);
        if (p.ContentType is { } ct) WriteString(w, ct);
        if (p.ContentEncoding is { } ce) WriteString(w, ce);
        if (p.Headers is { } h) WriteTable(w, h);
        if (p.DeliveryMode is { } dm) WriteByte(w, dm);
        if (p.Priority is { } pr) WriteByte(w, pr);
        if (p.CorrelationId is { } ci) WriteString(w, ci);
        if (p.ReplyTo is { } rt) WriteString(w, rt);
        if (p.Expiration is { } ex) WriteString(w, ex);
        if (p.MessageId is { } mi) WriteString(w, mi);
        if (p.Timestamp is { } ts) WriteVarint(w, (ulong)ts);
        if (p.Type is { } ty) WriteString(w, ty);
        if (p.UserId is { } ui) WriteString(w, ui);
        if (p.AppId is { } ai) WriteString(w, ai);
        return w.WrittenSpan.ToArray();
    }

    public static MessageProperties DecodeProperties(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return MessageProperties.Empty;
        var flags = (Present)ReadVarint(ref data);
        return new MessageProperties
        {
            ContentType = flags.HasFlag(Present.ContentType) ? ReadString(ref data) : null,
            ContentEncoding = flags.HasFlag(Present.ContentEncoding) ? ReadString(ref data) : null,
            Headers = flags.HasFlag(Present.Headers) ? ReadTable(ref data) : null,
            DeliveryMode = flags.HasFlag(Present.DeliveryMode) ? ReadByte(ref data) : null,
            Priority = flags.HasFlag(Present.Priority) ? ReadByte(ref data) : null,
            CorrelationId = flags.HasFlag(Present.CorrelationId) ? ReadString(ref data) : null,
            ReplyTo = flags.HasFlag(Present.ReplyTo) ? ReadString(ref data) : null,
            Expiration = flags.HasFlag(Present.Expiration) ? ReadString(ref data) : null,
            MessageId = flags.HasFlag(Present.MessageId) ? ReadString(ref data) : null,
            Timestamp = flags.HasFlag(Present.Timestamp) ? (long)ReadVarint(ref data) : null,
            Type = flags.HasFlag(Present.Type) ? ReadString(ref data) : null,
            UserId = flags.HasFlag(Present.UserId) ? ReadString(ref data) : null,
            AppId = flags.HasFlag(Present.AppId) ? ReadString(ref data) : null,
        };
    }

    public static byte[]? EncodeTable(IReadOnlyDictionary<string, object?>? table)
    {
        if (table is null || table.Count == 0) return null;
        var w = new ArrayBufferWriter<byte>(64);
        WriteTable(w, table);
        return w.WrittenSpan.ToArray();
    }

    public static IReadOnlyDictionary<string, object?>? DecodeTable(byte[]? data)
    {
        if (data is null || data.Length == 0) return null;
        ReadOnlySpan<byte> span = data;
        return ReadTable(ref span);
    }

    private static void WriteTable(ArrayBufferWriter<byte> w, IReadOnlyDictionary<string, object?> table)
    {
        WriteVarint(w, (ulong)table.Count);
        foreach (var (key, value) in table)
        {
            WriteString(w, key);
            WriteValue(w, value);
        }
    }

    private static void WriteValue(ArrayBufferWriter<byte> w, object? value)
    {
        switch (value)
        {
            case null: WriteByte(w, (byte)'V'); break;
            case string s: WriteByte(w, (byte)'S'); WriteString(w, s); break;
            case long l: WriteByte(w, (byte)'L'); BinaryPrimitives.WriteInt64LittleEndian(w.GetSpan(8), l); w.Advance(8); break;
            case double d: WriteByte(w, (byte)'D'); BinaryPrimitives.WriteDoubleLittleEndian(w.GetSpan(8), d); w.Advance(8); break;
            case bool b: WriteByte(w, b ? (byte)'T' : (byte)'F'); break;
            case byte[] bytes: WriteByte(w, (byte)'X'); WriteVarint(w, (ulong)bytes.Length); w.Write(bytes); break;
            case IReadOnlyDictionary<string, object?> t: WriteByte(w, (byte)'t'); WriteTable(w, t); break;
            case IReadOnlyList<object?> list:
                WriteByte(w, (byte)'A');
                WriteVarint(w, (ulong)list.Count);
                foreach (var item in list) WriteValue(w, item);
                break;
            default: throw new ArgumentException($"Unsupported field value type {value.GetType().Name}.");
        }
    }

    private static Dictionary<string, object?> ReadTable(ref ReadOnlySpan<byte> data)
    {
        var count = (int)ReadVarint(ref data);
        var table = new Dictionary<string, object?>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var key = ReadString(ref data);
            table[key] = ReadValue(ref data);
        }
        return table;
    }

    private static object? ReadValue(ref ReadOnlySpan<byte> data)
    {
        var tag = ReadByte(ref data);
        switch (tag)
        {
            case (byte)'V': return null;
            case (byte)'S': return ReadString(ref data);
            case (byte)'L': { var v = BinaryPrimitives.ReadInt64LittleEndian(data); data = data[8..]; return v; }
            case (byte)'D': { var v = BinaryPrimitives.ReadDoubleLittleEndian(data); data = data[8..]; return v; }
            case (byte)'T': return true;
            case (byte)'F': return false;
            case (byte)'X': { var n = (int)ReadVarint(ref data); var v = data[..n].ToArray(); data = data[n..]; return v; }
            case (byte)'t': return ReadTable(ref data);
            case (byte)'A':
            {
                var n = (int)ReadVarint(ref data);
                var list = new List<object?>(n);
                for (var i = 0; i < n; i++) list.Add(ReadValue(ref data));
                return list;
            }
            default: throw new InvalidDataException($"Unknown field tag {tag}.");
        }
    }

    private static void WriteByte(ArrayBufferWriter<byte> w, byte b)
    {
        w.GetSpan(1)[0] = b;
        w.Advance(1);
    }

    private static byte ReadByte(ref ReadOnlySpan<byte> data)
    {
        var b = data[0];
        data = data[1..];
        return b;
    }

    private static void WriteVarint(ArrayBufferWriter<byte> w, ulong value)
    {
        while (value >= 0x80)
        {
            WriteByte(w, (byte)(value | 0x80));
            value >>= 7;
        }
        WriteByte(w, (byte)value);
    }

    private static ulong ReadVarint(ref ReadOnlySpan<byte> data)
    {
        ulong result = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = ReadByte(ref data);
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return result;
        }
    }

    private static void WriteString(ArrayBufferWriter<byte> w, string s)
    {
        var length = Encoding.UTF8.GetByteCount(s);
        WriteVarint(w, (ulong)length);
        Encoding.UTF8.GetBytes(s, w.GetSpan(length));
        w.Advance(length);
    }

    private static string ReadString(ref ReadOnlySpan<byte> data)
    {
        var length = (int)ReadVarint(ref data);
        var s = Encoding.UTF8.GetString(data[..length]);
        data = data[length..];
        return s;
    }
}
