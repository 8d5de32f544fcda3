using System.Text;
using Gateway.Server.Tests;
using Gateway.Testing;
using RabbitMQ.Client;

namespace Gateway.Amqp.Tests;

/// <summary>One engine: AMQP clients share queues, statistics and metrics with the HTTP and WebSocket clients.</summary>
public sealed class MixedTests(AmqpGateway gateway) : IClassFixture<AmqpGateway>
{
    [Fact]
    public async Task A_message_published_over_AMQP_is_delivered_to_a_WebSocket_subscriber()
    {
        await using var s = await gateway.SessionAsync();
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, s.Vhost, SecuredGateway.AdminKey);
        await socket.SubscribeAsync(queue: s.Queue);
        await s.Channel.BasicPublishAsync("", s.Queue, mandatory: false, new BasicProperties { CorrelationId = "from-amqp" }, "over amqp"u8.ToArray());
        var delivery = (await socket.DeliveriesAsync(1))[0];
        Assert.Equal("over amqp", delivery.Str("payload"));
        Assert.Equal("from-amqp", delivery.GetProperty("properties").GetProperty("correlationId").GetString());
        await socket.AckAsync(delivery);
        await s.WaitForQueueAsync(q => q.Messages == 0, "the WebSocket ack to settle the AMQP message");
    }

    [Fact]
    public async Task A_message_published_over_HTTP_is_delivered_to_an_AMQP_consumer()
    {
        await using var s = await gateway.SessionAsync();
        var inbox = await Inbox.ConsumeAsync(s.Channel, s.Queue);
        await gateway.Admin.PublishAsync(s.Vhost, "amq.default", s.Queue, "over http", new { messageId = "h-1", headers = new { source = "http" } });
        var got = await inbox.NextAsync();
        Assert.Equal("over http", got.Text);
        Assert.Equal("", got.Exchange);
        Assert.Equal(s.Queue, got.RoutingKey);
        Assert.Equal("h-1", got.Properties.MessageId);
        Assert.Equal("http", Encoding.UTF8.GetString((byte[])got.Properties.Headers!["source"]!));
        await s.Channel.BasicAckAsync(got.DeliveryTag, multiple: false);
        await s.WaitForQueueAsync(q => q.Messages == 0, "the AMQP ack to settle the HTTP message");
    }

    [Fact]
    public async Task An_AMQP_consumer_and_a_WebSocket_subscriber_on_one_queue_compete_for_its_messages()
    {
        await using var s = await gateway.SessionAsync();
        await s.Channel.BasicQosAsync(0, 1, global: false);
        var inbox = await Inbox.ConsumeAsync(s.Channel, s.Queue);
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, s.Vhost, SecuredGateway.AdminKey);
        await socket.SubscribeAsync(queue: s.Queue, prefetch: 1);
        await s.WaitForQueueAsync(q => q.Consumers == 2, "both consumers to be registered");
        await s.Channel.BasicPublishAsync("", s.Queue, "one"u8.ToArray());
        await s.Channel.BasicPublishAsync("", s.Queue, "two"u8.ToArray());
        // Each holds one unacknowledged delivery (prefetch 1), so each got exactly one of the two.
        var overAmqp = await inbox.NextAsync();
        var overSocket = (await socket.DeliveriesAsync(1))[0];
        Assert.Equal(["one", "two"], new[] { overAmqp.Text, overSocket.Str("payload") }.Order());
        await s.WaitForQueueAsync(q => q.MessagesUnacknowledged == 2 && q.MessagesReady == 0, "one delivery held by each consumer");
    }

    [Fact]
    public async Task An_exclusive_AMQP_consumer_refuses_WebSocket_subscribers_until_it_is_cancelled()
    {
        await using var s = await gateway.SessionAsync();
        var inbox = await Inbox.ConsumeAsync(s.Channel, s.Queue, exclusive: true);
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, s.Vhost, SecuredGateway.AdminKey);

        var refused = await socket.RequestAsync(new { type = "subscribe", id = "s", queue = s.Queue });
        Assert.Equal("error", refused.Type());
        Assert.Equal(403, refused.GetProperty("status").GetInt32());
        Assert.Contains("exclusive", refused.Str("detail"));

        await s.Channel.BasicCancelAsync(inbox.ConsumerTag);
        await socket.SubscribeAsync(queue: s.Queue);   // free again
        await s.Channel.BasicPublishAsync("", s.Queue, "after"u8.ToArray());
        Assert.Equal("after", (await socket.DeliveriesAsync(1))[0].Str("payload"));
    }

    [Fact]
    public async Task An_exclusive_AMQP_consume_is_refused_while_a_WebSocket_subscriber_consumes()
    {
        await using var s = await gateway.SessionAsync();
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, s.Vhost, SecuredGateway.AdminKey);
        await socket.SubscribeAsync(queue: s.Queue);

        var e = await AmqpAssert.ClosedWithAsync(403, () => Inbox.ConsumeAsync(s.Channel, s.Queue, exclusive: true));
        Assert.Contains("exclusive consume refused", e.ReplyText);
    }

    [Fact]
    public async Task AMQP_publishes_show_in_the_queue_statistics_and_in_metrics()
    {
        await using var s = await gateway.SessionAsync("stats-q");
        for (var i = 0; i < 25; i++) await s.Channel.BasicPublishAsync("", s.Queue, new[] { (byte)i });
        await s.WaitForQueueAsync(q => q.MessagesReady == 25, "25 messages queued");
        await AmqpAssert.EventuallyAsync(async () =>
        {
            var metrics = await gateway.Admin.GetStringAsync("/metrics");
            return metrics.Split('\n').Any(line => line.StartsWith("gateway_queue_published_total{", StringComparison.Ordinal)
                                                   && line.Contains($"vhost=\"{s.Vhost}\"", StringComparison.Ordinal)
                                                   && line.Contains("queue=\"stats-q\"", StringComparison.Ordinal) && line.EndsWith(" 25", StringComparison.Ordinal));
        }, "gateway_queue_published_total to count the AMQP publishes");
    }
}
