using CsCheck;
using Gateway.Broker.Messages;
using Gateway.Storage.Journal;

namespace Gateway.Storage.Tests;

public sealed class FieldCodecTests
{
    // Valid UTF-16 only: lone surrogates cannot be represented in UTF-8 (nor reach the engine through JSON).
    private static readonly Gen<string> GenText = Gen.OneOf(
        Gen.String[Gen.Char.AlphaNumeric, 0, 12],
        Gen.String[Gen.Char['\u0000', '\uD7FF'], 0, 12],
        Gen.OneOf("", "é", "日本語", "😀 emoji", "nul\u0000inside", "x-match"));

    private static readonly Gen<object?> GenScalar = Gen.OneOf(
        Gen.Long.Select(v => (object?)v),
        Gen.OneOf(0L, 1L, -1L, long.MinValue, long.MaxValue).Select(v => (object?)v),
        Gen.Double.Select(v => (object?)v),
        Gen.OneOf(0.0, 1.0, -0.0, double.NaN, double.PositiveInfinity, double.Epsilon).Select(v => (object?)v),
        GenText.Select(v => (object?)v),
        Gen.Bool.Select(v => (object?)v),
        Gen.Byte.Array[0, 16].Select(v => (object?)v),
        Gen.Const((object?)null));

    private static readonly Gen<object?> GenValue = Gen.Recursive<object?>((depth, self) =>
    {
        if (depth >= 3) return GenScalar;
        var table = Gen.Dictionary(GenText, self)[0, 4].Select(d => (object?)(IReadOnlyDictionary<string, object?>)d);
        var array = self.List[0, 4].Select(l => (object?)(IReadOnlyList<object?>)l);
        return Gen.OneOf(GenScalar, GenScalar, table, array);
    });

    private static readonly Gen<IReadOnlyDictionary<string, object?>> GenTable =
        Gen.Dictionary(GenText, GenValue)[0, 6].Select(d => (IReadOnlyDictionary<string, object?>)d);

    private static Gen<T?> Maybe<T>(Gen<T> gen) where T : struct => Gen.OneOf(Gen.Const((T?)null), gen.Select(v => (T?)v));

    private static readonly Gen<MessageProperties> GenProperties = Gen.Select(
        Gen.Select(GenText.Null(), GenText.Null(), GenTable.Null(), Maybe(Gen.Byte), Maybe(Gen.Byte), GenText.Null(), GenText.Null()),
        Gen.Select(GenText.Null(), GenText.Null(), Maybe(Gen.Long), GenText.Null(), GenText.Null(), GenText.Null()),
        (a, b) => new MessageProperties
        {
            ContentType = a.Item1, ContentEncoding = a.Item2, Headers = a.Item3, DeliveryMode = a.Item4, Priority = a.Item5,
            CorrelationId = a.Item6, ReplyTo = a.Item7,
            Expiration = b.Item1, MessageId = b.Item2, Timestamp = b.Item3, Type = b.Item4, UserId = b.Item5, AppId = b.Item6,
        });

    private static MessageProperties RoundTrip(MessageProperties properties) =>
        FieldCodec.EncodeProperties(properties) is { } bytes ? FieldCodec.DecodeProperties(bytes) : MessageProperties.Empty;

    [Fact]
    public void Every_message_property_survives_encoding_and_decoding()
    {
        GenProperties.Sample(p =>
        {
            var back = RoundTrip(p);
            Assert.Equal(p.ContentType, back.ContentType);
            Assert.Equal(p.ContentEncoding, back.ContentEncoding);
            AssertSameValue(p.Headers, back.Headers);
            Assert.Equal(p.DeliveryMode, back.DeliveryMode);
            Assert.Equal(p.Priority, back.Priority);
            Assert.Equal(p.CorrelationId, back.CorrelationId);
            Assert.Equal(p.ReplyTo, back.ReplyTo);
            Assert.Equal(p.Expiration, back.Expiration);
            Assert.Equal(p.MessageId, back.MessageId);
            Assert.Equal(p.Timestamp, back.Timestamp);
            Assert.Equal(p.Type, back.Type);
            Assert.Equal(p.UserId, back.UserId);
            Assert.Equal(p.AppId, back.AppId);
        }, iter: 2_000);
    }

    [Fact]
    public void Field_tables_of_any_shape_keep_their_values_and_types()
    {
        GenTable.Sample(table =>
        {
            var bytes = FieldCodec.EncodeTable(table);
            if (table.Count == 0) Assert.Null(bytes);
            else AssertSameValue(table, FieldCodec.DecodeTable(bytes));
        }, iter: 2_000);
    }

    [Fact]
    public void Integers_stay_longs_and_floats_stay_doubles_at_every_depth()
    {
        var headers = new Dictionary<string, object?>
        {
            ["long"] = 1L,
            ["double"] = 1.0,
            ["string"] = "1",
            ["bool"] = true,
            ["bytes"] = new byte[] { 1 },
            ["void"] = null,
            ["table"] = new Dictionary<string, object?> { ["long"] = 1L, ["double"] = 1.0 },
            ["array"] = new List<object?> { 1L, 1.0, "1", false, null, new List<object?> { 1L } },
        };

        var back = RoundTrip(new MessageProperties { Headers = headers }).Headers!;

        Assert.IsType<long>(back["long"]);
        Assert.IsType<double>(back["double"]);
        Assert.IsType<string>(back["string"]);
        Assert.IsType<bool>(back["bool"]);
        Assert.IsType<byte[]>(back["bytes"]);
        Assert.Null(back["void"]);
        var table = Assert.IsAssignableFrom<IReadOnlyDictionary<string, object?>>(back["table"]);
        Assert.IsType<long>(table["long"]);
        Assert.IsType<double>(table["double"]);
        var array = Assert.IsAssignableFrom<IReadOnlyList<object?>>(back["array"]);
        Assert.Equal([typeof(long), typeof(double), typeof(string), typeof(bool)], array.Take(4).Select(v => v!.GetType()));
        Assert.Null(array[4]);
        Assert.IsType<long>(Assert.Single(Assert.IsAssignableFrom<IReadOnlyList<object?>>(array[5])));
        AssertSameValue(headers, back);
    }

    [Fact]
    public void Empty_properties_encode_to_null()
    {
        Assert.Null(FieldCodec.EncodeProperties(MessageProperties.Empty));
        Assert.Null(FieldCodec.EncodeProperties(new MessageProperties()));
        Assert.Same(MessageProperties.Empty, FieldCodec.DecodeProperties([]));
    }

    /// <summary>Deep equality that also requires the same runtime kind of value at every level.</summary>
    private static void AssertSameValue(object? expected, object? actual)
    {
        switch (expected)
        {
            case null:
                Assert.Null(actual);
                break;
            case long l:
                Assert.Equal(l, Assert.IsType<long>(actual));
                break;
            case double d:
                Assert.Equal(BitConverter.DoubleToInt64Bits(d), BitConverter.DoubleToInt64Bits(Assert.IsType<double>(actual)));
                break;
            case string s:
                Assert.Equal(s, Assert.IsType<string>(actual));
                break;
            case bool b:
                Assert.Equal(b, Assert.IsType<bool>(actual));
                break;
            case byte[] bytes:
                Assert.Equal(bytes, Assert.IsType<byte[]>(actual));
                break;
            case IReadOnlyDictionary<string, object?> table:
                var actualTable = Assert.IsAssignableFrom<IReadOnlyDictionary<string, object?>>(actual);
                Assert.Equal(table.Keys.Order(StringComparer.Ordinal), actualTable.Keys.Order(StringComparer.Ordinal));
                foreach (var (key, value) in table) AssertSameValue(value, actualTable[key]);
                break;
            case IReadOnlyList<object?> list:
                var actualList = Assert.IsAssignableFrom<IReadOnlyList<object?>>(actual);
                Assert.Equal(list.Count, actualList.Count);
                for (var i = 0; i < list.Count; i++) AssertSameValue(list[i], actualList[i]);
                break;
            default:
                Assert.Fail($"Unexpected value type {expected.GetType().Name}.");
                break;
        }
    }
}
