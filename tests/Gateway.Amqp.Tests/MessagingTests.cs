using System.Text;
using Gateway.Server.Tests;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Gateway.Amqp.Tests;

/// <summary>basic.publish, get, consume, ack, nack, reject, qos, recover and cancel with RabbitMQ.Client.</summary>
public sealed class MessagingTests(AmqpGateway gateway) : IClassFixture<AmqpGateway>
{
    [Fact]
    public async Task Every_basic_property_and_header_type_survives_the_round_trip()
    {
        await using var s = await gateway.SessionAsync();
        var properties = new BasicProperties
        {
            ContentType = "application/json", ContentEncoding = "gzip", DeliveryMode = DeliveryModes.Persistent, Priority = 7,
            CorrelationId = "c-1", ReplyTo = "replies", Expiration = "60000", MessageId = "m-1", Timestamp = new AmqpTimestamp(1_700_000_000),
            Type = "order.created", UserId = "admin", AppId = "tests",
            Headers = new Dictionary<string, object?>
            {
                ["text"] = "héllo", ["int"] = 42, ["long"] = 1L << 40, ["bool"] = true, ["double"] = 2.5, ["bytes"] = new BinaryTableValue([1, 2, 3]),
                ["list"] = new List<object?> { "a", 1 }, ["table"] = new Dictionary<string, object?> { ["nested"] = "yes" }, ["void"] = null,
            },
        };
        await s.Channel.BasicPublishAsync("", s.Queue, mandatory: false, properties, "body"u8.ToArray());
        var got = await s.Channel.BasicGetAsync(s.Queue, autoAck: true);
        Assert.NotNull(got);
        var p = got.BasicProperties;
        Assert.Equal(("application/json", "gzip", DeliveryModes.Persistent, (byte)7), (p.ContentType, p.ContentEncoding, p.DeliveryMode, p.Priority));
        Assert.Equal(("c-1", "replies", "60000", "m-1"), (p.CorrelationId, p.ReplyTo, p.Expiration, p.MessageId));
        Assert.Equal((1_700_000_000L, "order.created", "admin", "tests"), (p.Timestamp.UnixTime, p.Type, p.UserId, p.AppId));
        var h = p.Headers!;
        Assert.Equal("héllo", Encoding.UTF8.GetString((byte[])h["text"]!));
        Assert.Equal(42L, h["int"]); // integers arrive as 64-bit, as over HTTP
        Assert.Equal(1L << 40, h["long"]);
        Assert.Equal(true, h["bool"]);
        Assert.Equal(2.5, h["double"]);
        Assert.Equal(new byte[] { 1, 2, 3 }, BytesOf(h["bytes"]));
        var list = Assert.IsAssignableFrom<System.Collections.IList>(h["list"]);
        Assert.Equal("a", Encoding.UTF8.GetString((byte[])list[0]!));
        Assert.Equal(1L, list[1]);
        Assert.Equal("yes", Encoding.UTF8.GetString((byte[])((IDictionary<string, object?>)h["table"]!)["nested"]!));
        Assert.True(h.ContainsKey("void") && h["void"] is null);
        Assert.Equal("body", Encoding.UTF8.GetString(got.Body.Span));
    }

    private static byte[] BytesOf(object? value) => value switch
    {
        byte[] bytes => bytes,
        BinaryTableValue binary => binary.Bytes,
        _ => throw new Xunit.Sdk.XunitException($"Expected bytes, got {value?.GetType().Name}"),
    };

    [Fact]
    public async Task Properties_published_over_AMQP_are_the_ones_the_HTTP_API_shows()
    {
        await using var s = await gateway.SessionAsync();
        await s.Channel.BasicPublishAsync("", s.Queue, mandatory: false,
            new BasicProperties { ContentType = "text/plain", MessageId = "m-7", DeliveryMode = DeliveryModes.Persistent, Headers = new Dictionary<string, object?> { ["k"] = "v" } },
            "hello"u8.ToArray());
        var d = Assert.Single(await gateway.Admin.GetAsync(s.Vhost, s.Queue, new { max = 1, ackMode = "auto" }));
        Assert.Equal("hello", d.Payload);
        Assert.Equal("text/plain", d.Properties.GetProperty("contentType").GetString());
        Assert.Equal("m-7", d.Properties.GetProperty("messageId").GetString());
        Assert.Equal(2, d.Properties.GetProperty("deliveryMode").GetInt32());
        Assert.Equal("v", d.Properties.GetProperty("headers").GetProperty("k").GetString());
    }

    [Fact]
    public async Task A_body_larger_than_frame_max_is_split_into_frames_and_joined_again()
    {
        await using var s = await gateway.SessionAsync();
        var body = new byte[300_000];
        new Random(7).NextBytes(body);
        await s.Channel.BasicPublishAsync("", s.Queue, body);
        var got = await s.Channel.BasicGetAsync(s.Queue, autoAck: true);
        Assert.Equal(body, got!.Body.ToArray());
        await s.Channel.BasicPublishAsync("", s.Queue, body);
        var inbox = await Inbox.ConsumeAsync(s.Channel, s.Queue, autoAck: true);
        Assert.Equal(body, (await inbox.NextAsync()).Body);
    }

    [Fact]
    public async Task A_message_above_the_gateways_size_limit_closes_the_channel_with_406()
    {
        await using var s = await gateway.SessionAsync();
        var closed = ShutdownOf(s.Channel);
        await s.Channel.BasicPublishAsync("", s.Queue, new byte[16 * 1024 * 1024]);
        Assert.Equal(406, (await closed).ReplyCode);
        Assert.Equal(0, (await s.QueueInfoAsync()).MessagesReady);
    }

    private static Task<ShutdownEventArgs> ShutdownOf(IChannel channel)
    {
        var closed = new TaskCompletionSource<ShutdownEventArgs>();
        channel.ChannelShutdownAsync += (_, e) =>
        {
            closed.TrySetResult(e);
            return Task.CompletedTask;
        };
        return closed.Task.WaitAsync(Inbox.Deadline);
    }

    [Fact]
    public async Task A_mandatory_message_no_queue_takes_comes_back_as_basic_return_312()
    {
        await using var s = await gateway.SessionAsync();
        var returned = new TaskCompletionSource<(ushort Code, string Key, string Body)>();
        s.Channel.BasicReturnAsync += (_, e) =>
        {
            returned.TrySetResult((e.ReplyCode, e.RoutingKey, Encoding.UTF8.GetString(e.Body.Span)));
            return Task.CompletedTask;
        };
        await s.Channel.BasicPublishAsync("", "nowhere", mandatory: true, new BasicProperties(), "lost"u8.ToArray());
        Assert.Equal(((ushort)312, "nowhere", "lost"), await returned.Task.WaitAsync(Inbox.Deadline));
    }

    [Fact]
    public async Task Publishing_to_a_missing_exchange_closes_the_channel_with_404_and_keeps_the_connection()
    {
        await using var s = await gateway.SessionAsync();
        var closed = ShutdownOf(s.Channel);
        await s.Channel.BasicPublishAsync("no-such-exchange", "k", "x"u8.ToArray());
        Assert.Equal(404, (await closed).ReplyCode);
        Assert.True(s.Connection.IsOpen);
        await using var again = await s.Connection.CreateChannelAsync();
        await again.BasicPublishAsync("", s.Queue, "y"u8.ToArray());
    }

    [Fact]
    public async Task Consume_with_manual_ack_delivers_in_order_with_a_server_generated_tag_and_acks_settle()
    {
        await using var s = await gateway.SessionAsync();
        for (var i = 0; i < 5; i++) await s.Channel.BasicPublishAsync("", s.Queue, Encoding.UTF8.GetBytes($"m{i}"));
        var inbox = await Inbox.ConsumeAsync(s.Channel, s.Queue);
        Assert.StartsWith("amq.ctag-", inbox.ConsumerTag);
        var got = await inbox.NextAsync(5);
        Assert.Equal(["m0", "m1", "m2", "m3", "m4"], got.Select(r => r.Text));
        Assert.All(got, r => Assert.Equal(inbox.ConsumerTag, r.ConsumerTag));
        Assert.All(got, r => Assert.False(r.Redelivered));
        await s.Channel.BasicAckAsync(got[2].DeliveryTag, multiple: true);
        await s.Channel.BasicAckAsync(got[4].DeliveryTag, multiple: false);
        await s.WaitForQueueAsync(q => q.MessagesUnacknowledged == 1 && q.MessagesReady == 0, "one delivery left unacknowledged");
    }

    [Fact]
    public async Task Nack_with_requeue_redelivers_and_reject_without_requeue_drops()
    {
        await using var s = await gateway.SessionAsync();
        await s.Channel.BasicPublishAsync("", s.Queue, "a"u8.ToArray());
        await s.Channel.BasicPublishAsync("", s.Queue, "b"u8.ToArray());
        var inbox = await Inbox.ConsumeAsync(s.Channel, s.Queue);
        var first = await inbox.NextAsync(2);
        await s.Channel.BasicNackAsync(first[1].DeliveryTag, multiple: true, requeue: true);
        var again = await inbox.NextAsync(2);
        Assert.All(again, r => Assert.True(r.Redelivered));
        Assert.Equal(["a", "b"], again.Select(r => r.Text).Order());
        await s.Channel.BasicRejectAsync(again[0].DeliveryTag, requeue: false);
        await s.Channel.BasicRejectAsync(again[1].DeliveryTag, requeue: false);
        await s.WaitForQueueAsync(q => q.Messages == 0, "both rejected messages to be dropped");
    }

    [Fact]
    public async Task Acking_an_unknown_delivery_tag_closes_the_channel_with_406()
    {
        await using var s = await gateway.SessionAsync();
        var closed = ShutdownOf(s.Channel);
        await s.Channel.BasicAckAsync(999, multiple: false);
        Assert.Equal(406, (await closed).ReplyCode);
    }

    [Fact]
    public async Task Per_consumer_prefetch_holds_back_deliveries_until_acked()
    {
        await using var s = await gateway.SessionAsync();
        for (var i = 0; i < 10; i++) await s.Channel.BasicPublishAsync("", s.Queue, new[] { (byte)i });
        await s.Channel.BasicQosAsync(0, 3, global: false);
        var inbox = await Inbox.ConsumeAsync(s.Channel, s.Queue);
        var got = await inbox.NextAsync(3);
        await s.WaitForQueueAsync(q => q.MessagesUnacknowledged == 3 && q.MessagesReady == 7, "three outstanding, seven held back");
        Assert.Equal(0, inbox.Count);
        await s.Channel.BasicAckAsync(got[^1].DeliveryTag, multiple: true);
        await inbox.NextAsync(3);
        await s.WaitForQueueAsync(q => q.MessagesUnacknowledged == 3 && q.MessagesReady == 4, "the next three delivered");
    }

    [Fact]
    public async Task Global_prefetch_is_shared_by_the_consumers_of_a_channel()
    {
        await using var s = await gateway.SessionAsync();
        await s.Channel.QueueDeclareAsync("q2", durable: true, exclusive: false, autoDelete: false);
        for (var i = 0; i < 5; i++)
        {
            await s.Channel.BasicPublishAsync("", s.Queue, new[] { (byte)i });
            await s.Channel.BasicPublishAsync("", "q2", new[] { (byte)i });
        }
        await s.Channel.BasicQosAsync(0, 4, global: true);
        var a = await Inbox.ConsumeAsync(s.Channel, s.Queue);
        var b = await Inbox.ConsumeAsync(s.Channel, "q2");
        await AmqpAssert.EventuallyAsync(() => Task.FromResult(a.Count + b.Count == 4), "four deliveries across both consumers");
        // A round trip on the channel: deliveries the server would still send under the limit have had time to overtake it.
        await s.Channel.QueueDeclarePassiveAsync(s.Queue);
        Assert.Equal(4, a.Count + b.Count);
        var held = new List<Received>();
        while (a.Count > 0) held.Add(await a.NextAsync());
        while (b.Count > 0) held.Add(await b.NextAsync());
        await s.Channel.BasicAckAsync(held.Max(r => r.DeliveryTag), multiple: true);
        await AmqpAssert.EventuallyAsync(() => Task.FromResult(a.Count + b.Count == 4), "four more once the first four are acked");
    }

    [Fact]
    public async Task Basic_get_answers_get_empty_then_get_ok_with_the_remaining_count()
    {
        await using var s = await gateway.SessionAsync();
        Assert.Null(await s.Channel.BasicGetAsync(s.Queue, autoAck: false));
        for (var i = 0; i < 3; i++) await s.Channel.BasicPublishAsync("", s.Queue, new[] { (byte)i });
        var got = await s.Channel.BasicGetAsync(s.Queue, autoAck: false);
        Assert.NotNull(got);
        Assert.Equal(2u, got.MessageCount);
        await s.WaitForQueueAsync(q => q.MessagesUnacknowledged == 1, "the got message to be unacknowledged");
        await s.Channel.BasicAckAsync(got.DeliveryTag, multiple: false);
        await s.WaitForQueueAsync(q => q.MessagesUnacknowledged == 0 && q.MessagesReady == 2, "the ack to settle it");
    }

    [Fact]
    public async Task Cancelled_consumers_deliveries_can_still_be_acked()
    {
        await using var s = await gateway.SessionAsync();
        await s.Channel.BasicPublishAsync("", s.Queue, "c"u8.ToArray());
        var inbox = await Inbox.ConsumeAsync(s.Channel, s.Queue);
        var got = await inbox.NextAsync();
        await s.Channel.BasicCancelAsync(inbox.ConsumerTag);
        await s.Channel.BasicAckAsync(got.DeliveryTag, multiple: false);
        await s.WaitForQueueAsync(q => q.Messages == 0 && q.Consumers == 0, "the ack to settle and the consumer to go");
    }

    [Fact]
    public async Task Closing_a_channel_requeues_its_unacknowledged_deliveries()
    {
        await using var s = await gateway.SessionAsync();
        await s.Channel.BasicPublishAsync("", s.Queue, "u"u8.ToArray());
        await using (var other = await s.Connection.CreateChannelAsync())
        {
            var inbox = await Inbox.ConsumeAsync(other, s.Queue);
            await inbox.NextAsync();
            await other.CloseAsync();
        }
        await s.WaitForQueueAsync(q => q.MessagesReady == 1 && q.MessagesUnacknowledged == 0, "the delivery to go back");
        var got = await s.Channel.BasicGetAsync(s.Queue, autoAck: true);
        Assert.True(got!.Redelivered);
    }

    [Fact]
    public async Task An_exclusive_consumer_refuses_others_and_is_refused_while_others_consume()
    {
        await using var s = await gateway.SessionAsync();
        await Inbox.ConsumeAsync(s.Channel, s.Queue, exclusive: true);
        await using var other = await s.Connection.CreateChannelAsync();
        await AmqpAssert.ClosedWithAsync(403, () => Inbox.ConsumeAsync(other, s.Queue));
        await using var third = await s.Connection.CreateChannelAsync();
        await AmqpAssert.ClosedWithAsync(403, () => Inbox.ConsumeAsync(third, s.Queue, exclusive: true));
    }

    [Fact]
    public async Task Deleting_a_consumed_queue_sends_basic_cancel_to_the_consumer()
    {
        await using var s = await gateway.SessionAsync();
        var consumer = new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(s.Channel);
        var cancelled = new TaskCompletionSource<string[]>();
        consumer.UnregisteredAsync += (_, e) =>
        {
            cancelled.TrySetResult(e.ConsumerTags);
            return Task.CompletedTask;
        };
        var tag = await s.Channel.BasicConsumeAsync(s.Queue, autoAck: false, consumer);
        await gateway.Admin.SendOkAsync(HttpMethod.Delete, Urls.Queue(s.Vhost, s.Queue), null, System.Net.HttpStatusCode.NoContent);
        Assert.Contains(tag, await cancelled.Task.WaitAsync(Inbox.Deadline));
    }

    [Fact]
    public async Task Auto_ack_consumers_settle_as_they_receive()
    {
        await using var s = await gateway.SessionAsync();
        for (var i = 0; i < 50; i++) await s.Channel.BasicPublishAsync("", s.Queue, new[] { (byte)i });
        var inbox = await Inbox.ConsumeAsync(s.Channel, s.Queue, autoAck: true);
        var got = await inbox.NextAsync(50);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (byte)i), got.Select(r => r.Body[0]));
        await s.WaitForQueueAsync(q => q.Messages == 0, "every auto-acked delivery to be settled");
    }
}
