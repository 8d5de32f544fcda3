using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.Unicode;
using Gateway.Broker;
using Gateway.Broker.Messages;
using Gateway.Server.Contracts;

namespace Gateway.Server.Http;

/// <summary>
/// The body of a single publish, read once from the request's buffers. The shape nearly every publish has — a routing
/// key, a text payload, perhaps <c>mandatory</c> and a delivery mode — goes straight from the JSON to the engine's
/// <see cref="Message"/>: the payload's bytes are copied out of the body (unescaped where they must be) without
/// becoming a string and being encoded again, and no request object is built. Anything else (base64, other
/// properties, a name the reader does not know, a value the checks would refuse, malformed JSON) is read by the
/// serializer into a <see cref="PublishRequest"/> from the same bytes, and validated and answered as before: the
/// direct reading only ever takes bodies that the general path would take, to the same message.
/// </summary>
internal readonly record struct PublishBody(Message? Message, bool Mandatory, PublishRequest? Request)
{
    /// <summary>Reads the body: a message when the direct reading took it, else the serializer's request.</summary>
    public static async ValueTask<PublishBody> ReadAsync(HttpRequest request, JsonTypeInfo<PublishRequest> type, string exchange, int maxBytes)
    {
        var result = await JsonBody.ReadWholeAsync(request);
        try
        {
            var buffer = result.Buffer;
            if (buffer.IsSingleSegment && TryRead(buffer.FirstSpan, exchange, maxBytes) is { } direct) return direct;
            var parsed = JsonBody.Parse(buffer, type);
            return new PublishBody(null, parsed.Mandatory, parsed);
        }
        finally
        {
            request.BodyReader.AdvanceTo(result.Buffer.End);
        }
    }

    /// <summary>The message of a body of the common shape, or null when the general path must read it.</summary>
    internal static PublishBody? TryRead(ReadOnlySpan<byte> json, string exchange, int maxBytes)
    {
        try
        {
            return Read(json, exchange, maxBytes);
        }
        catch (JsonException)
        {
            return null; // malformed: the serializer words the 400
        }
        catch (InvalidOperationException)
        {
            return null; // an escaped lone surrogate (or a token of another type): the checks word the 400
        }
    }

    private static PublishBody? Read(ReadOnlySpan<byte> json, string exchange, int maxBytes)
    {
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
        string routingKey = "";
        byte[]? body = null;
        bool mandatory = false;
        int? deliveryMode = null;
        var seen = Member.None;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                // Only whitespace may follow the object; the payload is required.
                if (reader.Read() || body is null) return null;
                if (body.Length > maxBytes) return null; // the general path answers 413
                return new PublishBody(new Message(exchange, routingKey, MessageMapping.WithDeliveryMode(deliveryMode), body), mandatory, null);
            }
            var member = NameOf(ref reader);
            if (member == Member.None || (seen & member) != 0) return null; // unknown, another spelling, or repeated
            seen |= member;
            if (!reader.Read()) return null;
            switch (member)
            {
                case Member.RoutingKey:
                    if (reader.TokenType != JsonTokenType.String) return null;
                    routingKey = reader.GetString()!;
                    if (Names.ValidateRoutingKey(routingKey) is not null) return null;
                    break;
                case Member.Payload:
                    if (reader.TokenType != JsonTokenType.String || CopyText(ref reader) is not { } bytes) return null;
                    body = bytes;
                    break;
                case Member.PayloadEncoding:
                    if (reader.TokenType != JsonTokenType.String || !reader.ValueTextEquals("string"u8)) return null;
                    break;
                case Member.Mandatory:
                    if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False)) return null;
                    mandatory = reader.GetBoolean();
                    break;
                case Member.Properties:
                    if (reader.TokenType == JsonTokenType.Null) break;
                    if (reader.TokenType != JsonTokenType.StartObject || !ReadDeliveryModeOnly(ref reader, out deliveryMode)) return null;
                    break;
            }
        }
        return null;
    }

    [Flags]
    private enum Member { None = 0, RoutingKey = 1, Payload = 2, PayloadEncoding = 4, Mandatory = 8, Properties = 16 }

    private static Member NameOf(ref Utf8JsonReader reader) =>
        reader.TokenType != JsonTokenType.PropertyName || reader.ValueIsEscaped ? Member.None
        : reader.ValueTextEquals("routingKey"u8) ? Member.RoutingKey
        : reader.ValueTextEquals("payload"u8) ? Member.Payload
        : reader.ValueTextEquals("payloadEncoding"u8) ? Member.PayloadEncoding
        : reader.ValueTextEquals("mandatory"u8) ? Member.Mandatory
        : reader.ValueTextEquals("properties"u8) ? Member.Properties
        : Member.None;

    // The string's UTF-8 bytes: copied as they stand when nothing is escaped, else unescaped. Null when they are not
    // valid UTF-8 (the serializer refuses those).
    private static byte[]? CopyText(ref Utf8JsonReader reader)
    {
        if (reader.HasValueSequence) return null;
        var raw = reader.ValueSpan;
        if (!reader.ValueIsEscaped) return Utf8.IsValid(raw) ? raw.ToArray() : null;
        if (MayEscapeSurrogate(raw)) return null; // a lone one is refused with its own message: the general path decides
        var rented = ArrayPool<byte>.Shared.Rent(raw.Length); // unescaped text is never longer than its escaped form
        try
        {
            var written = reader.CopyString(rented); // throws on an escaped lone surrogate
            var text = rented.AsSpan(0, written);
            return Utf8.IsValid(text) ? text.ToArray() : null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    // Whether the escaped text has a \uD800–\uDFFF escape (or something that looks like one).
    private static bool MayEscapeSurrogate(ReadOnlySpan<byte> raw)
    {
        for (var i = raw.IndexOf("\\u"u8); i >= 0 && i + 3 < raw.Length; )
        {
            if (raw[i + 2] is (byte)'d' or (byte)'D' && raw[i + 3] is >= (byte)'8' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F')
                return true;
            var next = raw[(i + 2)..].IndexOf("\\u"u8);
            i = next < 0 ? -1 : i + 2 + next;
        }
        return false;
    }

    // `"properties": {}` or `{"deliveryMode": 1 | 2}`; anything else is for the general path.
    private static bool ReadDeliveryModeOnly(ref Utf8JsonReader reader, out int? deliveryMode)
    {
        deliveryMode = null;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject) return true;
            if (reader.TokenType != JsonTokenType.PropertyName || reader.ValueIsEscaped || !reader.ValueTextEquals("deliveryMode"u8) || deliveryMode is not null)
                return false;
            if (!reader.Read() || reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var mode) || mode is not (1 or 2)) return false;
            deliveryMode = mode;
        }
        return false;
    }
}
