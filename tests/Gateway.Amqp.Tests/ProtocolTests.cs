using System.Diagnostics;
using System.Text;
using Gateway.Amqp.Protocol;
using Gateway.Server.Tests;

namespace Gateway.Amqp.Tests;

/// <summary>Protocol behaviour no library call shows: negotiation, heartbeats, recover, flow, and the spec's error codes.</summary>
public sealed class ProtocolTests(AmqpGateway gateway) : IClassFixture<AmqpGateway>
{
    private Task<RawAmqp> OpenAsync(string vhost = "/", ushort heartbeat = 0, string mechanism = "PLAIN") =>
        RawAmqp.OpenAsync(gateway.AmqpPort, AmqpGateway.AdminUser, SecuredGateway.AdminKey, vhost, heartbeat, mechanism);

    private static byte[] Consume(string queue) => RawAmqp.Method(1, MethodId.BasicConsume, w =>
    {
        w.WriteShort(0);
        w.WriteShortStr(queue);
        w.WriteShortStr("c1");
        w.WriteBits(false, false, false, false);
        w.WriteTable(null);
    });

    // basic.deliver's delivery tag and redelivered flag.
    private static (ulong Tag, bool Redelivered) ReadDeliver(RawFrame frame)
    {
        var r = new AmqpReader(frame.Payload.AsSpan(4));
        r.ReadShortStr();
        var tag = r.ReadLongLong();
        return (tag, r.ReadBit());
    }

    [Fact]
    public async Task A_wrong_protocol_header_is_answered_with_the_supported_header_and_a_close()
    {
        await using var raw = await RawAmqp.ConnectAsync(gateway.AmqpPort);
        await raw.SendAsync("AMQP\x01\x01\x00\x0a"u8.ToArray());
        Assert.Equal(RawAmqp.Header, await raw.ReadBytesAsync(8));
        Assert.Null(await raw.ReadBytesAsync(1));
    }

    [Fact]
    public async Task AMQPLAIN_signs_in_as_PLAIN_does()
    {
        await using var raw = await OpenAsync(mechanism: "AMQPLAIN");
        await raw.SendAsync(RawAmqp.Method(0, MethodId.ConnectionClose, w =>
        {
            w.WriteShort(200);
            w.WriteShortStr("bye");
            w.WriteShort(0);
            w.WriteShort(0);
        }));
        await raw.ExpectAsync(MethodId.ConnectionCloseOk);
    }

    [Fact]
    public async Task The_server_sends_heartbeats_and_drops_a_peer_silent_for_two_intervals()
    {
        await using var raw = await OpenAsync(heartbeat: 1);
        var started = Stopwatch.StartNew();
        var heartbeats = 0;
        while (await raw.ReadFrameAsync() is { } frame)
            if (frame.Type == 8) heartbeats++;
        Assert.True(heartbeats >= 1, "The server sent no heartbeat.");
        Assert.InRange(started.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(8));
    }

    [Fact]
    public async Task Basic_recover_redelivers_what_the_channel_holds_marked_redelivered()
    {
        var vhost = await gateway.NewVhostAsync();
        await gateway.Admin.DeclareQueueAsync(vhost, "r");
        await gateway.Admin.PublishAsync(vhost, "amq.default", "r", "again");
        await using var raw = await OpenAsync(vhost);
        await raw.SendAsync(Consume("r"));
        await raw.ExpectAsync(MethodId.BasicConsumeOk);
        Assert.False(ReadDeliver(await raw.ExpectAsync(MethodId.BasicDeliver)).Redelivered);
        await raw.SendAsync(RawAmqp.Method(1, MethodId.BasicRecover, w => w.WriteBits(true)));
        // recover-ok and the redelivery, in either order (a redelivery may overtake the answer).
        var seen = new List<RawFrame>();
        while (!seen.Any(f => f.Method == MethodId.BasicRecoverOk) || !seen.Any(f => f.Method == MethodId.BasicDeliver))
            seen.Add((await raw.ReadFrameAsync())!.Value);
        Assert.True(ReadDeliver(seen.First(f => f.Method == MethodId.BasicDeliver)).Redelivered);
        await raw.SendAsync(RawAmqp.Method(1, MethodId.BasicRecover, w => w.WriteBits(false)));
        Assert.Equal(540, (await raw.ReadUntilCloseAsync())!.Value.ReplyCode);
    }

    [Fact]
    public async Task Channel_flow_pauses_deliveries_until_resumed()
    {
        var vhost = await gateway.NewVhostAsync();
        await gateway.Admin.DeclareQueueAsync(vhost, "f");
        await using var raw = await OpenAsync(vhost);
        await raw.SendAsync(RawAmqp.Method(1, MethodId.ChannelFlow, w => w.WriteBits(false)));
        await raw.ExpectAsync(MethodId.ChannelFlowOk);
        await raw.SendAsync(Consume("f"));
        await raw.ExpectAsync(MethodId.BasicConsumeOk);
        await gateway.Admin.PublishAsync(vhost, "amq.default", "f", "held");
        await AmqpAssert.EventuallyAsync(async () => (await gateway.Admin.GetQueueAsync(vhost, "f")).MessagesUnacknowledged == 1, "the consumer to be handed the message");
        // A round trip: a delivery written before qos-ok would arrive before it.
        await raw.SendAsync(RawAmqp.Method(1, MethodId.BasicQos, w =>
        {
            w.WriteLong(0);
            w.WriteShort(10);
            w.WriteBits(false);
        }));
        Assert.Equal(MethodId.BasicQosOk, (await raw.ReadFrameAsync())!.Value.Method);
        await raw.SendAsync(RawAmqp.Method(1, MethodId.ChannelFlow, w => w.WriteBits(true)));
        await raw.ExpectAsync(MethodId.ChannelFlowOk);
        var deliver = await raw.ExpectAsync(MethodId.BasicDeliver);
        Assert.Equal(1ul, ReadDeliver(deliver).Tag);
    }

    public static TheoryData<string, ushort> ConnectionErrors => new()
    {
        { "oversized frame", 501 }, { "bad frame-end", 501 }, { "unknown frame type", 501 }, { "heartbeat on a channel", 501 },
        { "truncated method", 502 }, { "bad field type", 502 }, { "unknown method", 540 }, { "unknown class", 540 },
        { "method on a closed channel", 504 }, { "channel above channel-max", 504 }, { "channel opened twice", 504 },
        { "header without publish", 505 }, { "body without header", 505 }, { "method inside content", 505 },
        { "start-ok after open", 503 }, { "immediate publish", 540 }, { "prefetch size", 540 },
    };

    [Theory]
    [MemberData(nameof(ConnectionErrors))]
    public async Task Protocol_violations_close_the_connection_with_the_specs_code(string violation, ushort code)
    {
        await using var raw = await OpenAsync();
        foreach (var bytes in BadFrames.Violation(violation)) await raw.TrySendAsync(bytes);
        var close = await raw.ReadUntilCloseAsync();
        Assert.NotNull(close);
        Assert.Equal(MethodId.ConnectionClose, close.Value.Method);
        Assert.Equal(code, close.Value.ReplyCode);
        Assert.Null(await raw.ReadFrameAsync()); // the server closes the socket after close-ok
    }

    [Fact]
    public async Task A_bad_login_is_closed_with_403_before_tune()
    {
        await using var raw = await RawAmqp.ConnectAsync(gateway.AmqpPort);
        await raw.SendAsync(RawAmqp.Header);
        await raw.ExpectAsync(MethodId.ConnectionStart);
        await raw.SendAsync(RawAmqp.Method(0, MethodId.ConnectionStartOk, w =>
        {
            w.WriteTable(null);
            w.WriteShortStr("PLAIN");
            w.WriteLongStr(Encoding.UTF8.GetBytes("\0admin\0not-a-key"));
            w.WriteShortStr("en_US");
        }));
        Assert.Equal(403, (await raw.ReadUntilCloseAsync())!.Value.ReplyCode);
    }
}
