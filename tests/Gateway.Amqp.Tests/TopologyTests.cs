using System.Net;
using Gateway.Server.Tests;
using RabbitMQ.Client;

namespace Gateway.Amqp.Tests;

/// <summary>exchange.* and queue.* over AMQP, checked through the HTTP API where the engine's state shows.</summary>
public sealed class TopologyTests(AmqpGateway gateway) : IClassFixture<AmqpGateway>
{
    [Fact]
    public async Task Exchange_declare_creates_an_exchange_the_HTTP_API_lists_with_its_flags()
    {
        var vhost = await gateway.NewVhostAsync();
        await using var connection = await gateway.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync("orders", ExchangeType.Topic, durable: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["alternate-exchange"] = "unrouted" });
        var exchange = await gateway.Admin.GetJsonAsync<ApiExchange>(Urls.Exchange(vhost, "orders"));
        Assert.Equal("topic", exchange.Type);
        Assert.False(exchange.Durable);
        Assert.Equal("unrouted", exchange.Arguments.GetProperty("alternate-exchange").GetString());
        await channel.ExchangeDeclarePassiveAsync("orders");
    }

    [Fact]
    public async Task Passive_declare_of_a_missing_exchange_closes_the_channel_with_404()
    {
        var vhost = await gateway.NewVhostAsync();
        await using var connection = await gateway.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync();
        await AmqpAssert.ClosedWithAsync(404, () => channel.ExchangeDeclarePassiveAsync("missing"));
        Assert.True(connection.IsOpen);
    }

    [Fact]
    public async Task Redeclaring_an_exchange_differently_is_406_and_an_unknown_type_is_503()
    {
        var vhost = await gateway.NewVhostAsync();
        await using var connection = await gateway.ConnectAsync(vhost);
        var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync("x", ExchangeType.Direct, durable: true);
        await AmqpAssert.ClosedWithAsync(406, () => channel.ExchangeDeclareAsync("x", ExchangeType.Fanout, durable: true));
        channel = await connection.CreateChannelAsync();
        await AmqpAssert.ClosedWithAsync(503, () => channel.ExchangeDeclareAsync("y", "no-such-type"));
        Assert.False(connection.IsOpen);
    }

    [Fact]
    public async Task Exchange_delete_with_if_unused_is_refused_while_bound_and_deleting_a_missing_one_succeeds()
    {
        var vhost = await gateway.NewVhostAsync();
        await using var connection = await gateway.ConnectAsync(vhost);
        var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync("src", ExchangeType.Fanout);
        await channel.ExchangeDeclareAsync("dst", ExchangeType.Fanout);
        await channel.ExchangeBindAsync("dst", "src", "");
        await AmqpAssert.ClosedWithAsync(406, () => channel.ExchangeDeleteAsync("src", ifUnused: true));
        channel = await connection.CreateChannelAsync();
        await channel.ExchangeUnbindAsync("dst", "src", "");
        await channel.ExchangeDeleteAsync("src", ifUnused: true);
        await channel.ExchangeDeleteAsync("never-existed");
        var response = await gateway.Admin.GetAsync(Urls.Exchange(vhost, "src"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Exchange_to_exchange_binding_routes_a_message_onwards()
    {
        var vhost = await gateway.NewVhostAsync();
        await using var connection = await gateway.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync("front", ExchangeType.Topic);
        await channel.ExchangeDeclareAsync("back", ExchangeType.Direct);
        await channel.ExchangeBindAsync("back", "front", "eu.#");
        var q = (await channel.QueueDeclareAsync("", exclusive: true)).QueueName;
        await channel.QueueBindAsync(q, "back", "eu.orders");
        await channel.BasicPublishAsync("front", "eu.orders", "hi"u8.ToArray());
        await channel.BasicPublishAsync("front", "us.orders", "no"u8.ToArray());
        var got = await channel.BasicGetAsync(q, autoAck: true);
        Assert.Equal("hi", System.Text.Encoding.UTF8.GetString(got!.Body.Span));
        Assert.Null(await channel.BasicGetAsync(q, autoAck: true));
    }

    [Fact]
    public async Task Server_named_queues_are_amq_gen_and_carry_the_declared_arguments_as_the_HTTP_API_shows_them()
    {
        var vhost = await gateway.NewVhostAsync();
        await using var connection = await gateway.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync();
        var declared = await channel.QueueDeclareAsync("", durable: false, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-max-length"] = 5, ["x-message-ttl"] = 60000 });
        Assert.StartsWith("amq.gen-", declared.QueueName);
        Assert.Equal(0u, declared.MessageCount);
        var queue = await gateway.Admin.GetQueueAsync(vhost, declared.QueueName);
        Assert.Equal(5, queue.Arguments.GetProperty("x-max-length").GetInt64());
        Assert.Equal(60000, queue.Arguments.GetProperty("x-message-ttl").GetInt64());
        Assert.False(queue.Durable);
    }

    [Fact]
    public async Task Queue_declare_reports_ready_messages_and_consumers_and_passive_declare_of_a_missing_queue_is_404()
    {
        var vhost = await gateway.NewVhostAsync();
        await using var connection = await gateway.ConnectAsync(vhost);
        var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync("work", durable: true, exclusive: false, autoDelete: false);
        for (var i = 0; i < 3; i++) await channel.BasicPublishAsync("", "work", new[] { (byte)i });
        var again = await channel.QueueDeclarePassiveAsync("work");
        Assert.Equal(3u, again.MessageCount);
        Assert.Equal(0u, again.ConsumerCount);
        await AmqpAssert.ClosedWithAsync(404, () => channel.QueueDeclarePassiveAsync("absent"));
    }

    [Fact]
    public async Task An_exclusive_queue_is_locked_to_its_connection_and_deleted_with_it()
    {
        var vhost = await gateway.NewVhostAsync();
        string name;
        await using (var owner = await gateway.ConnectAsync(vhost))
        {
            await using var channel = await owner.CreateChannelAsync();
            name = (await channel.QueueDeclareAsync("mine", durable: false, exclusive: true, autoDelete: false)).QueueName;
            await using var other = await gateway.ConnectAsync(vhost);
            var intruder = await other.CreateChannelAsync();
            await AmqpAssert.ClosedWithAsync(405, () => intruder.BasicGetAsync(name, autoAck: true));
            await owner.CloseAsync();
        }
        await AmqpAssert.EventuallyAsync(async () => (await gateway.Admin.GetAsync(Urls.Queue(vhost, name))).StatusCode == HttpStatusCode.NotFound,
            "the exclusive queue to be deleted with its connection");
    }

    [Fact]
    public async Task An_auto_delete_queue_goes_when_its_last_consumer_is_cancelled()
    {
        var vhost = await gateway.NewVhostAsync();
        await using var connection = await gateway.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync("temp", durable: false, exclusive: false, autoDelete: true);
        var inbox = await Inbox.ConsumeAsync(channel, "temp");
        Assert.Equal(1, (await gateway.Admin.GetQueueAsync(vhost, "temp")).Consumers);
        await channel.BasicCancelAsync(inbox.ConsumerTag);
        await AmqpAssert.EventuallyAsync(async () => (await gateway.Admin.GetAsync(Urls.Queue(vhost, "temp"))).StatusCode == HttpStatusCode.NotFound,
            "the auto-delete queue to go with its last consumer");
    }

    [Fact]
    public async Task Bind_unbind_purge_and_delete_answer_with_their_counts()
    {
        var vhost = await gateway.NewVhostAsync();
        await using var connection = await gateway.ConnectAsync(vhost);
        var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync("logs", ExchangeType.Direct);
        await channel.QueueDeclareAsync("errors", durable: true, exclusive: false, autoDelete: false);
        await channel.QueueBindAsync("errors", "logs", "error");
        Assert.Contains(await gateway.Admin.ListBindingsAsync(vhost), b => b.Source == "logs" && b.Destination == "errors" && b.RoutingKey == "error");
        for (var i = 0; i < 4; i++) await channel.BasicPublishAsync("logs", "error", new[] { (byte)i });
        Assert.Equal(4u, await channel.QueuePurgeAsync("errors"));
        await channel.BasicPublishAsync("logs", "error", "x"u8.ToArray());
        await channel.QueueUnbindAsync("errors", "logs", "error");
        Assert.DoesNotContain(await gateway.Admin.ListBindingsAsync(vhost), b => b.Source == "logs");
        await AmqpAssert.EventuallyAsync(async () => (await gateway.Admin.GetQueueAsync(vhost, "errors")).MessagesReady == 1, "the message to be queued");
        await AmqpAssert.ClosedWithAsync(406, () => channel.QueueDeleteAsync("errors", ifUnused: false, ifEmpty: true));
        channel = await connection.CreateChannelAsync();
        Assert.Equal(1u, await channel.QueueDeleteAsync("errors"));
        Assert.Equal(0u, await channel.QueueDeleteAsync("errors"));
    }

    [Fact]
    public async Task Declaring_amq_names_or_the_default_exchange_is_403()
    {
        var vhost = await gateway.NewVhostAsync();
        await using var connection = await gateway.ConnectAsync(vhost);
        var channel = await connection.CreateChannelAsync();
        await AmqpAssert.ClosedWithAsync(403, () => channel.QueueDeclareAsync("amq.mine", durable: true, exclusive: false, autoDelete: false));
        channel = await connection.CreateChannelAsync();
        await AmqpAssert.ClosedWithAsync(403, () => channel.ExchangeDeleteAsync(""));
    }
}
