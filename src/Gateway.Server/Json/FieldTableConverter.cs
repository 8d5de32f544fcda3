using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Server.Json;

/// <summary>
/// Reads and writes AMQP field tables (headers, arguments) as JSON objects, keeping value types: an integer literal
/// becomes a long, a literal with a fraction or exponent a double (and a double is written back with a fraction, so
/// 1.0 stays 1.0), strings, booleans, arrays and nested objects map to themselves; null is AMQP void.
/// </summary>
public sealed class FieldTableConverter : JsonConverter<IReadOnlyDictionary<string, object?>>
{
    private const int MaxDepth = 16;

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, object?>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        return ReadTable(ref reader, 0);
    }

    private static Dictionary<string, object?> ReadTable(ref Utf8JsonReader reader, int depth)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("Expected a JSON object (a field table).");
        if (depth > MaxDepth) throw new JsonException($"Field tables may nest at most {MaxDepth} levels.");
        var table = new Dictionary<string, object?>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var key = reader.GetString()!;
            reader.Read();
            table[key] = ReadValue(ref reader, depth);
        }
        return table;
    }

    private static object? ReadValue(ref Utf8JsonReader reader, int depth) => reader.TokenType switch
    {
        JsonTokenType.String => reader.GetString(),
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        JsonTokenType.Null => null,
        JsonTokenType.Number => ReadNumber(ref reader),
        JsonTokenType.StartObject => ReadTable(ref reader, depth + 1),
        JsonTokenType.StartArray => ReadArray(ref reader, depth + 1),
        _ => throw new JsonException($"Unexpected JSON token {reader.TokenType} in a field table."),
    };

    private static object ReadNumber(ref Utf8JsonReader reader)
    {
        var raw = reader.HasValueSequence ? System.Buffers.BuffersExtensions.ToArray(reader.ValueSequence) : reader.ValueSpan;
        if (raw.IndexOfAny((byte)'.', (byte)'e', (byte)'E') < 0 && reader.TryGetInt64(out var l)) return l;
        var d = reader.GetDouble();
        if (!double.IsFinite(d)) throw new JsonException("Numbers in field tables must fit a 64-bit integer or a finite double.");
        return d;
    }

    private static List<object?> ReadArray(ref Utf8JsonReader reader, int depth)
    {
        if (depth > MaxDepth) throw new JsonException($"Field tables may nest at most {MaxDepth} levels.");
        var list = new List<object?>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            list.Add(ReadValue(ref reader, depth));
        return list;
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, IReadOnlyDictionary<string, object?> value, JsonSerializerOptions options) =>
        WriteValue(writer, value);

    private static void WriteValue(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null: writer.WriteNullValue(); break;
            case string s: writer.WriteStringValue(s); break;
            case bool b: writer.WriteBooleanValue(b); break;
            case long l: writer.WriteNumberValue(l); break;
            case double d when double.IsFinite(d):
                var text = d.ToString("R", CultureInfo.InvariantCulture);
                writer.WriteRawValue(text.AsSpan().IndexOfAny('.', 'E', 'e') < 0 ? text + ".0" : text, skipInputValidation: true);
                break;
            case double d: writer.WriteStringValue(d.ToString(CultureInfo.InvariantCulture)); break;
            case byte[] bytes: writer.WriteBase64StringValue(bytes); break;
            case IReadOnlyDictionary<string, object?> table:
                writer.WriteStartObject();
                foreach (var (k, v) in table)
                {
                    writer.WritePropertyName(k);
                    WriteValue(writer, v);
                }
                writer.WriteEndObject();
                break;
            case IReadOnlyList<object?> list:
                writer.WriteStartArray();
                foreach (var item in list) WriteValue(writer, item);
                writer.WriteEndArray();
                break;
            default: writer.WriteStringValue(value.ToString()); break;
        }
    }
}
