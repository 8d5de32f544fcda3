using System.Text;

namespace Gateway.Amqp.Protocol;

/// <summary>
/// Field tables and arrays with every type octet RabbitMQ and its clients use (the 0-9-1 errata's set):
/// <c>t</c> bool, <c>b</c> sbyte, <c>B</c> byte, <c>s</c> short, <c>u</c> ushort, <c>I</c> int, <c>i</c> uint,
/// <c>l</c> long, <c>f</c> float, <c>d</c> double, <c>D</c> decimal, <c>S</c> long string (a <see cref="string"/>, or
/// <see cref="byte"/>[] when it is not UTF-8), <c>A</c> array (<see cref="List{T}"/>), <c>T</c> timestamp
/// (<see cref="AmqpTimestamp"/>), <c>F</c> nested table, <c>V</c> void (null) and <c>x</c> byte array.
/// </summary>
/// <remarks>
/// Decoding is exact: each type octet has its own CLR type, so a table decodes and encodes back to the same bytes.
/// Nesting is bounded (<see cref="MaxDepth"/>) so that a hostile frame cannot exhaust the stack.
/// </remarks>
public static class FieldTable
{
    /// <summary>The deepest nesting of tables and arrays accepted.</summary>
    public const int MaxDepth = 32;

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>Decodes a field table's encoding (its 4-byte length included).</summary>
    public static Dictionary<string, object?>? Decode(ReadOnlySpan<byte> encoded)
    {
        var reader = new AmqpReader(encoded);
        var table = reader.ReadTable();
        reader.End();
        return table;
    }

    /// <summary>Encodes a field table (its 4-byte length included).</summary>
    public static byte[] Encode(IReadOnlyDictionary<string, object?>? table)
    {
        var buffer = new FrameBuffer(256);
        buffer.WriteTable(table);
        return buffer.Written.ToArray();
    }

    internal static Dictionary<string, object?>? Read(ref AmqpReader reader, int depth)
    {
        var length = reader.ReadLong();
        if (length > (uint)reader.Remaining) AmqpException.ThrowSyntax("a field table is longer than its frame");
        if (length == 0) return depth == 0 ? null : [];
        if (depth >= MaxDepth) AmqpException.ThrowSyntax($"field tables nest deeper than {MaxDepth}");
        var inner = new AmqpReader(reader.ReadBytes((int)length));
        var table = new Dictionary<string, object?>(StringComparer.Ordinal);
        while (inner.Remaining > 0)
        {
            var key = inner.ReadShortStr();
            table[key] = ReadValue(ref inner, depth + 1);
        }
        return table;
    }

    private static List<object?> ReadArray(ref AmqpReader reader, int depth)
    {
        var length = reader.ReadLong();
        if (length > (uint)reader.Remaining) AmqpException.ThrowSyntax("a field array is longer than its frame");
        if (depth >= MaxDepth) AmqpException.ThrowSyntax($"field tables nest deeper than {MaxDepth}");
        var inner = new AmqpReader(reader.ReadBytes((int)length));
        var list = new List<object?>();
        while (inner.Remaining > 0) list.Add(ReadValue(ref inner, depth + 1));
        return list;
    }

    private static object? ReadValue(ref AmqpReader r, int depth)
    {
        var type = r.ReadOctet();
        switch (type)
        {
            case (byte)'t': return r.ReadOctet() != 0;
            case (byte)'b': return (sbyte)r.ReadOctet();
            case (byte)'B': return r.ReadOctet();
            case (byte)'s': return (short)r.ReadShort();
            case (byte)'u': return r.ReadShort();
            case (byte)'I': return (int)r.ReadLong();
            case (byte)'i': return r.ReadLong();
            case (byte)'l': return (long)r.ReadLongLong();
            case (byte)'f': return BitConverter.Int32BitsToSingle((int)r.ReadLong());
            case (byte)'d': return BitConverter.Int64BitsToDouble((long)r.ReadLongLong());
            case (byte)'D':
            {
                var scale = r.ReadOctet();
                var value = (int)r.ReadLong();
                if (scale > 28) AmqpException.ThrowSyntax("a decimal's scale is above 28");
                var magnitude = (uint)Math.Abs((long)value);
                return new decimal((int)magnitude, 0, 0, value < 0, scale);
            }
            case (byte)'S':
            {
                var bytes = r.ReadLongStrBytes();
                try
                {
                    return StrictUtf8.GetString(bytes);
                }
                catch (DecoderFallbackException)
                {
                    return bytes.ToArray();
                }
            }
            case (byte)'A': return ReadArray(ref r, depth);
            case (byte)'T': return new AmqpTimestamp((long)r.ReadLongLong());
            case (byte)'F': return Read(ref r, depth) ?? [];
            case (byte)'V': return null;
            case (byte)'x': return r.ReadLongStrBytes().ToArray();
            default:
                AmqpException.ThrowSyntax($"unknown field type '{(char)type}' (0x{type:x2})");
                return null;
        }
    }

    internal static void WriteValue(FrameBuffer w, object? value, int depth)
    {
        if (depth > MaxDepth) throw new ArgumentException($"Field tables nest deeper than {MaxDepth}.");
        switch (value)
        {
            case null: w.WriteOctet((byte)'V'); break;
            case string s: w.WriteOctet((byte)'S'); w.WriteLongStr(s); break;
            case bool b: w.WriteOctet((byte)'t'); w.WriteOctet(b ? (byte)1 : (byte)0); break;
            case sbyte v: w.WriteOctet((byte)'b'); w.WriteOctet((byte)v); break;
            case byte v: w.WriteOctet((byte)'B'); w.WriteOctet(v); break;
            case short v: w.WriteOctet((byte)'s'); w.WriteShort((ushort)v); break;
            case ushort v: w.WriteOctet((byte)'u'); w.WriteShort(v); break;
            case int v: w.WriteOctet((byte)'I'); w.WriteLong((uint)v); break;
            case uint v: w.WriteOctet((byte)'i'); w.WriteLong(v); break;
            case long v: w.WriteOctet((byte)'l'); w.WriteLongLong((ulong)v); break;
            case float v: w.WriteOctet((byte)'f'); w.WriteLong((uint)BitConverter.SingleToInt32Bits(v)); break;
            case double v: w.WriteOctet((byte)'d'); w.WriteLongLong((ulong)BitConverter.DoubleToInt64Bits(v)); break;
            case decimal v: WriteDecimal(w, v); break;
            case AmqpTimestamp t: w.WriteOctet((byte)'T'); w.WriteLongLong((ulong)t.UnixSeconds); break;
            case byte[] bytes: w.WriteOctet((byte)'x'); w.WriteLongStr(bytes); break;
            case ReadOnlyMemory<byte> bytes: w.WriteOctet((byte)'x'); w.WriteLongStr(bytes.Span); break;
            case IReadOnlyDictionary<string, object?> table: w.WriteOctet((byte)'F'); w.WriteTable(table, depth + 1); break;
            case IEnumerable<object?> list:
            {
                w.WriteOctet((byte)'A');
                var start = w.ReserveLength();
                foreach (var item in list) WriteValue(w, item, depth + 1);
                w.PatchLength(start);
                break;
            }
            default: throw new ArgumentException($"A field value of type {value.GetType().Name} has no AMQP encoding.");
        }
    }

    // AMQP's decimal is a scale octet and a signed 32-bit value: a System.Decimal whose unscaled value fits in it.
    private static void WriteDecimal(FrameBuffer w, decimal value)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var scale = (byte)((bits[3] >> 16) & 0xFF);
        var negative = bits[3] < 0;
        if (bits[1] != 0 || bits[2] != 0 || (uint)bits[0] > (negative ? 0x80000000u : int.MaxValue))
            throw new ArgumentException("An AMQP decimal holds a signed 32-bit unscaled value.");
        w.WriteOctet((byte)'D');
        w.WriteOctet(scale);
        w.WriteLong(negative ? (uint)-(long)(uint)bits[0] : (uint)bits[0]);
    }
}
