using CsCheck;
using Gateway.Amqp.Protocol;
using Gateway.Broker.Messages;

namespace Gateway.Amqp.Tests;

/// <summary>The field-table codec: every AMQP type round-trips exactly; malformed tables are syntax errors (502), never other faults.</summary>
public sealed class FieldTableTests
{
    // A random value of any AMQP field type, nesting tables and arrays up to `depth`.
    private static object? Value(Random r, int depth) => r.Next(depth > 0 ? 17 : 15) switch
    {
        0 => r.Next(2) == 0,
        1 => (sbyte)r.Next(-128, 128),
        2 => (byte)r.Next(256),
        3 => (short)r.Next(short.MinValue, short.MaxValue),
        4 => (ushort)r.Next(ushort.MaxValue),
        5 => r.Next(int.MinValue, int.MaxValue),
        6 => (uint)r.NextInt64(uint.MaxValue),
        7 => r.NextInt64(long.MinValue, long.MaxValue),
        8 => (float)(r.NextDouble() * 1e6 - 5e5),
        9 => r.NextDouble() * 1e12 - 5e11,
        10 => new decimal(r.Next(), 0, 0, r.Next(2) == 0, (byte)r.Next(10)),
        11 => Text(r),
        12 => new AmqpTimestamp(r.NextInt64(0, 4_000_000_000)),
        13 => null,
        14 => Bytes(r),
        15 => Table(r, depth - 1),
        _ => Enumerable.Range(0, r.Next(4)).Select(_ => Value(r, depth - 1)).ToList(),
    };

    private const string Alphabet = "aZ09 é€-_.\u4e2d";

    private static string Text(Random r) => new(Enumerable.Range(0, r.Next(12)).Select(_ => Alphabet[r.Next(Alphabet.Length)]).ToArray());

    private static byte[] Bytes(Random r)
    {
        var bytes = new byte[r.Next(10)];
        r.NextBytes(bytes);
        return bytes;
    }

    private static Dictionary<string, object?> Table(Random r, int depth) =>
        Enumerable.Range(0, r.Next(1, 6)).Select(i => ($"{Text(r)}{i}", Value(r, depth))).ToDictionary(p => p.Item1, p => p.Item2);

    [Fact]
    public void Random_tables_of_every_type_round_trip_to_the_same_bytes_and_values()
    {
        Gen.Int.Sample(seed =>
        {
            var table = Table(new Random(seed), depth: 3);
            var encoded = FieldTable.Encode(table);
            var decoded = FieldTable.Decode(encoded);
            Assert.Equal(encoded, FieldTable.Encode(decoded));
            AssertSame(table, decoded);
        }, iter: 2000);
    }

    private static void AssertSame(object? expected, object? actual)
    {
        switch (expected)
        {
            case Dictionary<string, object?> table:
                var other = Assert.IsType<Dictionary<string, object?>>(actual);
                Assert.Equal(table.Keys.Order(), other.Keys.Order());
                foreach (var (k, v) in table) AssertSame(v, other[k]);
                break;
            case List<object?> list:
                var otherList = Assert.IsType<List<object?>>(actual);
                Assert.Equal(list.Count, otherList.Count);
                for (var i = 0; i < list.Count; i++) AssertSame(list[i], otherList[i]);
                break;
            case null:
                Assert.Null(actual);
                break;
            default:
                Assert.Equal(expected.GetType(), actual?.GetType());
                Assert.Equal(expected, actual);
                break;
        }
    }

    [Fact]
    public void Decimal_timestamp_nested_tables_arrays_and_byte_arrays_have_their_wire_forms()
    {
        var encoded = FieldTable.Encode(new Dictionary<string, object?>
        {
            ["d"] = 12.345m, ["t"] = new AmqpTimestamp(1), ["f"] = new Dictionary<string, object?> { ["x"] = true },
            ["a"] = new List<object?> { (byte)7 }, ["x"] = new byte[] { 0xAB },
        });
        byte[] expected =
        [
            0, 0, 0, 59,
            1, (byte)'d', (byte)'D', 3, 0, 0, 0x30, 0x39, // scale 3, 12345
            1, (byte)'t', (byte)'T', 0, 0, 0, 0, 0, 0, 0, 1,
            1, (byte)'f', (byte)'F', 0, 0, 0, 4, 1, (byte)'x', (byte)'t', 1,
            1, (byte)'a', (byte)'A', 0, 0, 0, 2, (byte)'B', 7,
            1, (byte)'x', (byte)'x', 0, 0, 0, 1, 0xAB,
        ];
        Assert.Equal(expected[4..], encoded[4..]);
        Assert.Equal(expected.Length - 4, encoded.Length - 4);
        Assert.Equal(12.345m, FieldTable.Decode(encoded)!["d"]);
    }

    [Fact]
    public void A_non_UTF8_long_string_decodes_as_bytes()
    {
        byte[] table = [0, 0, 0, 8, 1, (byte)'s', (byte)'S', 0, 0, 0, 1, 0xFF];
        Assert.Equal(new byte[] { 0xFF }, FieldTable.Decode(table)!["s"]);
    }

    [Fact]
    public void Values_become_the_engines_types_as_over_HTTP()
    {
        var engine = ContentHeader.ToEngine(new Dictionary<string, object?>
        {
            ["i"] = 5, ["b"] = (byte)1, ["f"] = 1.5f, ["m"] = 2.5m, ["t"] = new AmqpTimestamp(9), ["l"] = new List<object?> { (short)3 },
            ["n"] = new Dictionary<string, object?> { ["u"] = (uint)4 },
        })!;
        Assert.Equal(5L, engine["i"]);
        Assert.Equal(1L, engine["b"]);
        Assert.Equal(1.5, engine["f"]);
        Assert.Equal(2.5, engine["m"]);
        Assert.Equal(9L, engine["t"]);
        Assert.Equal(3L, ((List<object?>)engine["l"]!)[0]);
        Assert.Equal(4L, ((Dictionary<string, object?>)engine["n"]!)["u"]);
        Assert.Equal("{}", HeaderValues.Canonical(new Dictionary<string, object?>())); // the engine accepts them: Canonical throws on others
        _ = HeaderValues.Canonical(engine);
    }

    [Fact]
    public void Random_and_truncated_bytes_decode_or_fail_as_syntax_errors_only()
    {
        Gen.Int.Sample(seed =>
        {
            var r = new Random(seed);
            byte[] bytes;
            if (r.Next(2) == 0)
            {
                var valid = FieldTable.Encode(Table(r, 2));
                bytes = valid[..r.Next(valid.Length + 1)];
                if (bytes.Length > 4 && r.Next(2) == 0) bytes[r.Next(4, bytes.Length)] = (byte)r.Next(256);
            }
            else
            {
                bytes = new byte[r.Next(64)];
                r.NextBytes(bytes);
                if (bytes.Length >= 4) System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)(bytes.Length - 4));
            }
            try
            {
                FieldTable.Decode(bytes);
            }
            catch (AmqpException e)
            {
                Assert.Equal(ReplyCode.SyntaxError, e.ReplyCode);
                Assert.True(e.IsConnectionError);
            }
        }, iter: 5000);
    }

    [Fact]
    public void Tables_nested_deeper_than_the_limit_are_refused()
    {
        object? nested = "leaf";
        for (var i = 0; i < FieldTable.MaxDepth + 4; i++) nested = new List<object?> { nested };
        // The encoder refuses to write it; a hand-made encoding is refused by the decoder.
        Assert.Throws<ArgumentException>(() => FieldTable.Encode(new Dictionary<string, object?> { ["n"] = nested }));
        var deep = new List<byte>();
        for (var i = 0; i < 100; i++) deep.AddRange(new byte[] { (byte)'A', 0, 0, 0, 0 });
        var bytes = new byte[] { 0, 0, 0, 0, 1, (byte)'n' }.Concat(deep).ToArray();
        // Lengths are patched from the innermost out.
        var e = Assert.Throws<AmqpException>(() => FieldTable.Decode(FixLengths(bytes)));
        Assert.Equal(ReplyCode.SyntaxError, e.ReplyCode);
    }

    // Fills in the 4-byte lengths of a table holding "n" = array(array(...)) from the inside out.
    private static byte[] FixLengths(byte[] bytes)
    {
        var count = (bytes.Length - 6) / 5;
        for (var i = count - 1; i >= 0; i--)
        {
            var at = 6 + i * 5 + 1;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(at), (uint)(bytes.Length - at - 4));
        }
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)(bytes.Length - 4));
        return bytes;
    }
}
