using System.Buffers.Binary;
using Gateway.Amqp.Protocol;

namespace Gateway.Amqp.Tests;

/// <summary>Frame sequences that break the protocol, each named, sent after a handshake with channel 1 open.</summary>
internal static class BadFrames
{
    public static byte[] Publish(ushort channel, bool immediate = false) => RawAmqp.Method(channel, MethodId.BasicPublish, w =>
    {
        w.WriteShort(0);
        w.WriteShortStr("");
        w.WriteShortStr("k");
        w.WriteBits(false, immediate);
    });

    public static byte[] Header(ushort channel, ulong size)
    {
        var payload = new byte[14];
        BinaryPrimitives.WriteUInt16BigEndian(payload, 60);
        BinaryPrimitives.WriteUInt64BigEndian(payload.AsSpan(4), size);
        return RawAmqp.Frame(2, channel, payload);
    }

    public static byte[] QueueDeclare(ushort channel, string name, byte[]? table = null) => RawAmqp.Method(channel, MethodId.QueueDeclare, w =>
    {
        w.WriteShort(0);
        w.WriteShortStr(name);
        w.WriteBits(false, false, false, true, false);
        if (table is null) w.WriteTable(null);
        else w.WriteBytes(table);
    });

    public static IEnumerable<byte[]> Violation(string name) => name switch
    {
        "oversized frame" => [RawAmqp.Frame(1, 1, new byte[200_000])],
        "bad frame-end" => [RawAmqp.Frame(8, 0, [], end: 0x00)],
        "unknown frame type" => [RawAmqp.Frame(9, 0, [1, 2, 3])],
        "heartbeat on a channel" => [RawAmqp.Frame(8, 1, [])],
        "truncated method" => [RawAmqp.Frame(1, 1, QueueDeclare(1, "q")[7..12])],
        "bad field type" => [QueueDeclare(1, "q", [0, 0, 0, 4, 1, (byte)'k', (byte)'Z', 0])],
        "unknown method" => [RawAmqp.Frame(1, 1, [0, 60, 0, 99])],
        "unknown class" => [RawAmqp.Frame(1, 1, [0, 77, 0, 10])],
        "method on a closed channel" => [QueueDeclare(7, "q")],
        "channel above channel-max" => [RawAmqp.Method(4000, MethodId.ChannelOpen, w => w.WriteShortStr(""))],
        "channel opened twice" => [RawAmqp.Method(1, MethodId.ChannelOpen, w => w.WriteShortStr(""))],
        "header without publish" => [Header(1, 3)],
        "body without header" => [RawAmqp.Frame(3, 1, [1, 2, 3])],
        "method inside content" => [Publish(1), Header(1, 3), QueueDeclare(1, "q")],
        "start-ok after open" => [RawAmqp.Method(0, MethodId.ConnectionStartOk, w =>
        {
            w.WriteTable(null);
            w.WriteShortStr("PLAIN");
            w.WriteLongStr("\0a\0b"u8);
            w.WriteShortStr("en_US");
        })],
        "immediate publish" => [Publish(1, immediate: true)],
        "prefetch size" => [RawAmqp.Method(1, MethodId.BasicQos, w =>
        {
            w.WriteLong(1024);
            w.WriteShort(1);
            w.WriteBits(false);
        })],
        _ => throw new ArgumentException(name),
    };
}
