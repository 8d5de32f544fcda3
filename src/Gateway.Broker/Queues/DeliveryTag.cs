using System.Buffers.Binary;
using System.Buffers.Text;

namespace Gateway.Broker.Queues;

/// <summary>
/// Identifies one delivery: the queue incarnation it came from (a random number drawn when the queue was created,
/// so a tag never matches a later queue of the same name) and the delivery's number within it. Its text form is
/// opaque to clients: 22 characters of base64url.
/// </summary>
public readonly record struct DeliveryTag(ulong Incarnation, long Id)
{
    private const int ByteLength = 16;

    /// <summary>The opaque text form.</summary>
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[ByteLength];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, Incarnation);
        BinaryPrimitives.WriteInt64BigEndian(bytes[8..], Id);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>Parses the text form; false when <paramref name="text"/> is not a tag.</summary>
    public static bool TryParse(string? text, out DeliveryTag tag)
    {
        tag = default;
        if (text is null || text.Length != 22) return false;
        Span<byte> bytes = stackalloc byte[ByteLength];
        if (Base64Url.DecodeFromChars(text, bytes, out var consumed, out var written) != System.Buffers.OperationStatus.Done
            || consumed != text.Length || written != ByteLength)
            return false;
        var id = BinaryPrimitives.ReadInt64BigEndian(bytes[8..]);
        if (id <= 0) return false;
        tag = new DeliveryTag(BinaryPrimitives.ReadUInt64BigEndian(bytes), id);
        return true;
    }
}
