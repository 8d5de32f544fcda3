using System.Buffers.Binary;
using System.Text;

namespace Gateway.Amqp.Protocol;

/// <summary>
/// Reads AMQP 0-9-1 fields (spec 4.2.5) from a method or header frame's payload. A field running past the payload
/// is a syntax error (502), never an exception of another kind: the payload is whatever the client sent.
/// </summary>
internal ref struct AmqpReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;
    private byte _bits;
    private int _bitIndex = 8;

    /// <summary>Bytes not read yet.</summary>
    public readonly int Remaining => _data.Length - _position;

    private ReadOnlySpan<byte> Take(int count)
    {
        _bitIndex = 8;
        if ((uint)count > (uint)Remaining) AmqpException.ThrowSyntax("a field runs past the end of its frame");
        var span = _data.Slice(_position, count);
        _position += count;
        return span;
    }

    public byte ReadOctet() => Take(1)[0];
    public ushort ReadShort() => BinaryPrimitives.ReadUInt16BigEndian(Take(2));
    public uint ReadLong() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));
    public ulong ReadLongLong() => BinaryPrimitives.ReadUInt64BigEndian(Take(8));

    /// <summary>The next bit of a run of bit fields (packed into octets, low bit first).</summary>
    public bool ReadBit()
    {
        if (_bitIndex == 8)
        {
            _bits = ReadOctet();
            _bitIndex = 0;
        }
        return (_bits & (1 << _bitIndex++)) != 0;
    }

    /// <summary>A short string's bytes (up to 255).</summary>
    public ReadOnlySpan<byte> ReadShortStrBytes() => Take(ReadOctet());

    /// <summary>A short string, decoded as UTF-8 (invalid sequences are a syntax error).</summary>
    public string ReadShortStr()
    {
        var bytes = ReadShortStrBytes();
        return bytes.Length == 0 ? "" : Decode(bytes);
    }

    /// <summary>A long string's bytes.</summary>
    public ReadOnlySpan<byte> ReadLongStrBytes()
    {
        var length = ReadLong();
        if (length > int.MaxValue) AmqpException.ThrowSyntax("a long string is longer than its frame");
        return Take((int)length);
    }

    public string ReadLongStr() => Decode(ReadLongStrBytes());

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    internal static string Decode(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            AmqpException.ThrowSyntax("a string is not valid UTF-8");
            return "";
        }
    }

    /// <summary>A field table (spec 4.2.5.5 with RabbitMQ's type octets), or null when it is empty.</summary>
    public Dictionary<string, object?>? ReadTable() => FieldTable.Read(ref this, depth: 0);

    /// <summary>The remaining bytes, for nested structures.</summary>
    internal ReadOnlySpan<byte> ReadBytes(int count) => Take(count);

    /// <summary>Throws 502 when bytes are left over: a method frame carries exactly its fields.</summary>
    public readonly void End()
    {
        if (Remaining != 0) AmqpException.ThrowSyntax("a method frame is longer than its fields");
    }
}
