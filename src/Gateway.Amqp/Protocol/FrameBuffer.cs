using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Gateway.Amqp.Protocol;

/// <summary>
/// A growable buffer, rented from the shared pool, that frames and their fields are encoded into directly (no
/// intermediate objects on the deliver and confirm paths). Not thread-safe: the connection writes to it under its
/// send lock and swaps it with a spare one for the socket write.
/// </summary>
internal sealed class FrameBuffer(int initialSize = 16 * 1024)
{
    private const int ShrinkAbove = 1024 * 1024;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(initialSize);
    private int _length;

    /// <summary>Bytes written.</summary>
    public int Length => _length;

    /// <summary>What was written.</summary>
    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, _length);

    /// <summary>Empties the buffer, giving a very large one back to the pool.</summary>
    public void Reset()
    {
        _length = 0;
        if (_buffer.Length <= ShrinkAbove) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = ArrayPool<byte>.Shared.Rent(initialSize);
    }

    /// <summary>Gives the buffer back to the pool; the instance is not used afterwards.</summary>
    public void Release()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
        _length = 0;
    }

    private Span<byte> Reserve(int count)
    {
        if (_buffer.Length - _length < count) Grow(count);
        var span = _buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }

    private void Grow(int count)
    {
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + count));
        _buffer.AsSpan(0, _length).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = larger;
    }

    public void WriteOctet(byte value) => Reserve(1)[0] = value;
    public void WriteShort(ushort value) => BinaryPrimitives.WriteUInt16BigEndian(Reserve(2), value);
    public void WriteLong(uint value) => BinaryPrimitives.WriteUInt32BigEndian(Reserve(4), value);
    public void WriteLongLong(ulong value) => BinaryPrimitives.WriteUInt64BigEndian(Reserve(8), value);
    public void WriteBytes(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Reserve(bytes.Length));

    /// <summary>A short string: at most 255 bytes of UTF-8; longer text is cut at a character boundary.</summary>
    public void WriteShortStr(string? value)
    {
        value ??= "";
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (max <= 255 || Encoding.UTF8.GetByteCount(value) <= 255)
        {
            var lengthAt = _length;
            Reserve(1);
            var written = Encoding.UTF8.GetBytes(value, Reserve(Math.Min(max, 255 * 3)));
            _length = lengthAt + 1 + written;
            _buffer[lengthAt] = (byte)written;
            return;
        }
        var cut = value.Length;
        while (Encoding.UTF8.GetByteCount(value.AsSpan(0, cut)) > 255) cut--;
        if (cut > 0 && char.IsHighSurrogate(value[cut - 1])) cut--;
        WriteShortStr(value[..cut]);
    }

    public void WriteShortStr(ReadOnlySpan<byte> utf8)
    {
        WriteOctet((byte)Math.Min(utf8.Length, 255));
        WriteBytes(utf8[..Math.Min(utf8.Length, 255)]);
    }

    public void WriteLongStr(string value)
    {
        var start = ReserveLength();
        var written = Encoding.UTF8.GetBytes(value, Reserve(Encoding.UTF8.GetMaxByteCount(value.Length)));
        _length = start + 4 + written;
        PatchLength(start);
    }

    public void WriteLongStr(ReadOnlySpan<byte> bytes)
    {
        WriteLong((uint)bytes.Length);
        WriteBytes(bytes);
    }

    /// <summary>Packs up to eight bit fields into one octet, first bit lowest.</summary>
    public void WriteBits(bool b0, bool b1 = false, bool b2 = false, bool b3 = false, bool b4 = false) =>
        WriteOctet((byte)((b0 ? 1 : 0) | (b1 ? 2 : 0) | (b2 ? 4 : 0) | (b3 ? 8 : 0) | (b4 ? 16 : 0)));

    /// <summary>A field table, its length first; null is the empty table.</summary>
    public void WriteTable(IReadOnlyDictionary<string, object?>? table, int depth = 0)
    {
        var start = ReserveLength();
        if (table is not null)
            foreach (var (key, value) in table)
            {
                WriteShortStr(key);
                FieldTable.WriteValue(this, value, depth);
            }
        PatchLength(start);
    }

    /// <summary>Reserves a 4-byte length to be patched by <see cref="PatchLength"/>; returns where it is.</summary>
    public int ReserveLength()
    {
        var at = _length;
        Reserve(4);
        return at;
    }

    /// <summary>Writes the bytes written since <paramref name="lengthAt"/> (the length field excluded) into it.</summary>
    public void PatchLength(int lengthAt) =>
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(lengthAt, 4), (uint)(_length - lengthAt - 4));

    // ---------------------------------------------------------------- frames

    /// <summary>Starts a frame; returns where, for <see cref="EndFrame"/>.</summary>
    public int BeginFrame(byte type, ushort channel)
    {
        var at = _length;
        var header = Reserve(FrameType.HeaderSize);
        header[0] = type;
        BinaryPrimitives.WriteUInt16BigEndian(header[1..], channel);
        return at;
    }

    /// <summary>Patches the frame's size and writes its frame-end octet.</summary>
    public void EndFrame(int frameAt)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(frameAt + 3, 4), (uint)(_length - frameAt - FrameType.HeaderSize));
        WriteOctet(FrameType.End);
    }

    /// <summary>Starts a method frame with its class and method ids.</summary>
    public int BeginMethod(ushort channel, uint method)
    {
        var at = BeginFrame(FrameType.Method, channel);
        WriteShort(MethodId.Class(method));
        WriteShort(MethodId.Method(method));
        return at;
    }

    /// <summary>A method frame without fields.</summary>
    public void WriteMethod(ushort channel, uint method) => EndFrame(BeginMethod(channel, method));

    /// <summary>A heartbeat frame (channel 0, no payload).</summary>
    public void WriteHeartbeat() => EndFrame(BeginFrame(FrameType.Heartbeat, 0));

    /// <summary>A content body split into body frames of at most <paramref name="frameMax"/> bytes each.</summary>
    public void WriteBody(ushort channel, ReadOnlySpan<byte> body, int frameMax)
    {
        var chunk = frameMax - FrameType.Overhead;
        while (body.Length > 0)
        {
            var part = body[..Math.Min(chunk, body.Length)];
            var at = BeginFrame(FrameType.Body, channel);
            WriteBytes(part);
            EndFrame(at);
            body = body[part.Length..];
        }
    }
}
