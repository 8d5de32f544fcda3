using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>Binary frames (docs/websocket-protocol.md, "Binary frames"): raw payloads both ways, and the frames refused.</summary>
public abstract partial class WebSocketTests<TFactory>
{
    private static readonly byte[] NotUtf8 = [0xff, 0xfe, 0x00, 0x80, 0x7b, 0x22];

    private async Task PublishBytesOverHttpAsync(string vhost, byte[] body) =>
        await _client.SendOkAsync(HttpMethod.Post, Urls.Publish(vhost, "amq.default"),
            new { routingKey = "q", payload = Convert.ToBase64String(body), payloadEncoding = "base64", properties = new { contentType = "application/x-test" } },
            HttpStatusCode.OK);

    [Fact]
    public async Task A_binary_subscription_gets_each_delivery_as_a_binary_frame_with_the_raw_payload_after_its_header()
    {
        var vhost = await VhostWithMessagesAsync();
        await PublishBytesOverHttpAsync(vhost, NotUtf8);
        await using var socket = await ConnectAsync(vhost);

        await socket.SubscribeAsync(id: "raw", queue: "q", payloadFormat: "binary");
        var delivery = await socket.ReceiveMessageAsync();

        Assert.Equal(NotUtf8, delivery.Payload);
        var header = delivery.Frame;
        Assert.Equal(("delivery", "raw", "amq.default", "q"), (header.Type(), header.Str("subscription"), header.Str("exchange"), header.Str("routingKey")));
        Assert.Equal((false, 1), (header.GetProperty("redelivered").GetBoolean(), header.GetProperty("deliveryCount").GetInt32()));
        Assert.Equal("application/x-test", header.GetProperty("properties").Str("contentType"));
        Assert.False(header.TryGetProperty("payload", out _), $"The header carries a payload: {header.GetRawText()}");
        Assert.False(header.TryGetProperty("payloadEncoding", out _), $"The header carries a payloadEncoding: {header.GetRawText()}");
    }

    [Fact]
    public async Task A_binary_delivery_is_acked_by_the_tag_in_its_header()
    {
        var vhost = await VhostWithMessagesAsync("text is raw too");
        await using var socket = await ConnectAsync(vhost);
        await socket.SubscribeAsync(queue: "q", payloadFormat: "binary");
        var delivery = await socket.ReceiveMessageAsync();

        await socket.AckAsync(delivery.Frame);
        await socket.PingAsync();

        Assert.Equal("text is raw too"u8.ToArray(), delivery.Payload);
        Assert.Equal(0, (await QueueAsync(vhost)).Messages);
    }

    [Fact]
    public async Task A_binary_delivery_nacked_with_requeue_comes_again_as_a_binary_frame_marked_redelivered()
    {
        var vhost = await VhostWithMessagesAsync();
        await PublishBytesOverHttpAsync(vhost, NotUtf8);
        await using var socket = await ConnectAsync(vhost);
        await socket.SubscribeAsync(queue: "q", payloadFormat: "binary");
        var first = await socket.ReceiveMessageAsync();

        await socket.NackAsync(first.Frame, requeue: true);
        var again = await socket.ReceiveMessageAsync();

        Assert.Equal(NotUtf8, again.Payload);
        Assert.True(again.Frame.GetProperty("redelivered").GetBoolean());
    }

    [Fact]
    public async Task Binary_and_JSON_subscriptions_on_one_socket_each_get_their_own_format()
    {
        var vhost = await VhostWithMessagesAsync();
        await _client.DeclareQueueAsync(vhost, "q2");
        await using var socket = await ConnectAsync(vhost);
        await socket.SubscribeAsync(id: "bin", queue: "q", payloadFormat: "binary");
        await socket.SubscribeAsync(id: "json", queue: "q2", payloadFormat: "json");

        await _client.PublishToQueueAsync(vhost, "q", "to-bin");
        var binary = await socket.ReceiveMessageAsync();
        await _client.PublishToQueueAsync(vhost, "q2", "to-json");
        var json = await socket.ReceiveMessageAsync();

        Assert.Equal(("bin", "to-bin"), (binary.Frame.Str("subscription"), Encoding.UTF8.GetString(binary.Payload!)));
        Assert.Null(json.Payload);
        Assert.Equal(("json", "to-json"), (json.Frame.Str("subscription"), json.Frame.Str("payload")));
    }

    [Fact]
    public async Task A_binary_publish_stores_the_raw_bytes_with_its_properties_and_answers_a_confirm_with_its_id()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        await socket.SendBinaryFrameAsync(new
        {
            type = "publish", id = "raw-1", exchange = "amq.default", routingKey = "q", properties = new { contentType = "image/png", messageId = "m-1" },
        }, NotUtf8);
        var confirm = await socket.ReceiveAsync();

        Assert.Equal(("confirm", "raw-1", true, 1),
            (confirm.Type(), confirm.Str("id"), confirm.GetProperty("routed").GetBoolean(), confirm.GetProperty("queues").GetInt32()));
        var stored = Assert.Single(await _client.GetAsync(vhost, "q"));
        Assert.Equal(NotUtf8, stored.Body);
        Assert.Equal(("image/png", "m-1"), (stored.Properties.GetProperty("contentType").GetString(), stored.Properties.GetProperty("messageId").GetString()));
    }

    [Fact]
    public async Task A_binary_publish_with_an_empty_payload_stores_an_empty_message()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        await socket.SendBinaryFrameAsync(new { type = "publish", routingKey = "q" }, []);
        var confirm = await socket.ExpectAsync("confirm");

        Assert.False(confirm.TryGetProperty("id", out _));
        Assert.Empty(Assert.Single(await _client.GetAsync(vhost, "q")).Body);
    }

    [Fact]
    public async Task Binary_publishes_and_JSON_frames_are_answered_in_request_order()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        await socket.SendBinaryFrameAsync(new { type = "publish", id = "b1", routingKey = "q" }, [1]);
        await socket.SendAsync(new { type = "publish", id = "j2", routingKey = "q", payload = "two" });
        await socket.SendBinaryFrameAsync(new { type = "publish", id = "b3", routingKey = "q" }, [3]);
        var ids = new[] { await socket.ExpectAsync("confirm"), await socket.ExpectAsync("confirm"), await socket.ExpectAsync("confirm") }.Select(c => c.Str("id"));

        Assert.Equal(["b1", "j2", "b3"], ids);
        Assert.Equal([[1], "two"u8.ToArray(), [3]], (await _client.GetAsync(vhost, "q", new { max = 10 })).Select(d => d.Body));
    }

    [Fact]
    public async Task A_binary_publish_answers_the_errors_of_a_JSON_publish_with_its_id()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        await socket.SendBinaryFrameAsync(new { type = "publish", id = "missing", exchange = "nope" }, [1]);
        var missing = await socket.ReceiveAsync();
        await socket.SendBinaryFrameAsync(new { type = "publish", id = "unroutable", routingKey = "nobody", mandatory = true }, [1]);
        var unroutable = await socket.ReceiveAsync();

        missing.IsError(404, id: "missing");
        unroutable.IsError(422, id: "unroutable");
    }

    [Fact]
    public async Task A_binary_publish_over_MaxMessageBytes_answers_413_and_stores_nothing()
    {
        using var limited = new SmallMessageLimitGateway();
        var client = limited.Factory.CreateClient();
        var vhost = await client.CreateVhostAsync("ws");
        await client.DeclareQueueAsync(vhost, "q");
        await using var socket = await TestServerSockets.ConnectAsync(limited.Factory, vhost);

        await socket.SendBinaryFrameAsync(new { type = "publish", id = "big", routingKey = "q" }, new byte[SmallMessageLimitGateway.MaxMessageBytes + 1]);
        var error = await socket.ReceiveAsync();
        await socket.SendBinaryFrameAsync(new { type = "publish", id = "fits", routingKey = "q" }, new byte[SmallMessageLimitGateway.MaxMessageBytes]);
        var confirm = await socket.ReceiveAsync();

        error.IsError(413, id: "big");
        Assert.Equal(("confirm", "fits"), (confirm.Type(), confirm.Str("id")));
        Assert.Equal(1, (await client.GetQueueAsync(vhost, "q")).Messages);
    }

    /// <summary>Headers the binary layout refuses: not a publish (the id is still echoed), or carrying the payload fields.</summary>
    [Theory]
    [InlineData("""{"type":"ping","id":"h"}""", "h")]
    [InlineData("""{"type":"subscribe","id":"h","queue":"q"}""", "h")]
    [InlineData("""{"type":"publish","id":"h","routingKey":"q","payload":"x"}""", "h")]
    [InlineData("""{"type":"publish","id":"h","routingKey":"q","payloadEncoding":"base64"}""", "h")]
    [InlineData("""{"type":"publish","id":"h","routingKey":"q","extra":1}""", null)]
    [InlineData("""not json""", null)]
    public async Task A_binary_frame_whose_header_is_not_a_binary_publish_answers_an_error_400(string header, string? id)
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        await socket.SendBinaryAsync(BinaryFrame.Compose(Encoding.UTF8.GetBytes(header), [1, 2, 3]));
        var error = await socket.ReceiveAsync();

        error.IsError(400, id);
        await socket.PingAsync();
        Assert.Equal(0, (await QueueAsync(vhost)).Messages);
    }

    public static TheoryData<byte[]> BrokenLayouts()
    {
        var tooLong = BinaryFrame.Compose("{\"type\":\"publish\"}"u8, [1]);
        BinaryPrimitives.WriteUInt32BigEndian(tooLong, (uint)tooLong.Length); // announces more header than the frame holds
        return new TheoryData<byte[]>
        {
            new byte[] { 0, 0, 0 },                         // shorter than the length prefix
            new byte[] { 0, 0, 0, 0, 1, 2 },                // an empty header
            tooLong,
            new byte[] { 0xff, 0xff, 0xff, 0xff, 0x7b, 0x7d },
        };
    }

    [Theory]
    [MemberData(nameof(BrokenLayouts))]
    public async Task A_binary_frame_whose_length_prefix_does_not_fit_answers_an_error_400_without_id(byte[] frame)
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        await socket.SendBinaryAsync(frame);
        var error = await socket.ReceiveAsync();

        error.IsError(400);
        await socket.PingAsync();
    }

    [Fact]
    public async Task An_unknown_payloadFormat_answers_an_error_400()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        await socket.SendTextAsync("""{"type":"subscribe","id":"s","queue":"q","payloadFormat":"base64"}""");
        var error = await socket.ReceiveAsync();

        Assert.Equal(("error", 400), (error.Type(), error.GetProperty("status").GetInt32()));
        Assert.Equal(0, (await QueueAsync(vhost)).Consumers);
    }
}
