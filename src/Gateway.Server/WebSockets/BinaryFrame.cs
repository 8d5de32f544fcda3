using System.Buffers;
using System.Buffers.Binary;

namespace Gateway.Server.WebSockets;

/// <summary>
/// The layout of binary frames in <c>gateway.v1.json</c> (docs/websocket-protocol.md, "Binary frames"): a 4-byte
/// big-endian unsigned header length <c>n</c>, <c>n</c> bytes of a UTF-8 JSON header (a <c>publish</c> or
/// <c>delivery</c> frame without <c>payload</c> and <c>payloadEncoding</c>), then the payload's raw bytes up to the end
/// of the frame. The payload travels as it is: no base64, no copy into a string.
/// </summary>
internal static class BinaryFrame
{
    /// <summary>The size of the header length prefix.</summary>
    public const int PrefixBytes = 4;

    /// <summary>Splits a frame into its JSON header and payload; false when the length prefix does not fit the frame.</summary>
    public static bool TrySplit(ReadOnlyMemory<byte> frame, out ReadOnlyMemory<byte> header, out ReadOnlyMemory<byte> payload)
    {
        header = payload = default;
        if (frame.Length < PrefixBytes) return false;
        var length = BinaryPrimitives.ReadUInt32BigEndian(frame.Span);
        if (length == 0 || length > frame.Length - PrefixBytes) return false;
        header = frame.Slice(PrefixBytes, (int)length);
        payload = frame[(PrefixBytes + (int)length)..];
        return true;
    }

    /// <summary>Reserves the length prefix in <paramref name="buffer"/> (empty) before the header is written after it.</summary>
    public static void BeginHeader(ArrayBufferWriter<byte> buffer)
    {
        buffer.GetSpan(PrefixBytes);
        buffer.Advance(PrefixBytes);
    }

    /// <summary>Fills in the length prefix of the header written since <see cref="BeginHeader"/>, then appends the payload.</summary>
    public static void EndHeader(ArrayBufferWriter<byte> buffer, ReadOnlySpan<byte> payload)
    {
        var headerLength = buffer.WrittenCount - PrefixBytes;
        // WrittenSpan is read-only; the prefix lives in the writer's own array, which GetMemory would not hand back.
        BinaryPrimitives.WriteUInt32BigEndian(System.Runtime.InteropServices.MemoryMarshal.AsMemory(buffer.WrittenMemory).Span, (uint)headerLength);
        payload.CopyTo(buffer.GetSpan(payload.Length));
        buffer.Advance(payload.Length);
    }
}
