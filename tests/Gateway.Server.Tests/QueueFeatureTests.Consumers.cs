using Gateway.Testing;

namespace Gateway.Server.Tests;

// x-max-priority, x-delivery-limit and x-single-active-consumer: who gets which message, in which order.
public sealed partial class QueueFeatureTests
{
    private async Task<SocketClient> SubscribedSocketAsync(string vhost, string queue, string id = "s", int prefetch = 100)
    {
        var socket = await TestServerSockets.ConnectAsync(factory, vhost);
        var answer = await socket.RequestAsync(new { type = "subscribe", id, queue, prefetch });
        Assert.True(answer.Type() == "subscribed", $"Expected subscribed, got {answer.GetRawText()}");
        return socket;
    }

    // ------------------------------------------------------------------ priorities

    [Fact]
    public async Task A_priority_queue_delivers_higher_priorities_first_and_fifo_within_a_priority()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-max-priority", 10)));

        foreach (var (priority, payload) in new (int?, string)[] { (1, "a1"), (5, "b5"), (1, "c1"), (9, "d9"), (5, "e5"), (null, "f0"), (0, "g0") })
            await PublishAsync(vhost, "q", payload, priority is null ? null : new { priority });

        Assert.Equal(["d9", "b5", "e5", "a1", "c1", "f0", "g0"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_priority_above_x_max_priority_counts_as_the_maximum()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-max-priority", 5)));

        foreach (var (priority, payload) in new[] { (4, "four"), (9, "nine"), (5, "five"), (7, "seven") })
            await PublishAsync(vhost, "q", payload, new { priority });

        Assert.Equal(["nine", "five", "seven", "four"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_queue_without_x_max_priority_ignores_priorities()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");

        await PublishAsync(vhost, "q", "low", new { priority = 1 });
        await PublishAsync(vhost, "q", "high", new { priority = 9 });

        Assert.Equal(["low", "high"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_raw_publish_with_Amqp_Priority_is_ordered_by_it()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-max-priority", 10)));

        foreach (var (priority, payload) in new[] { ("2", "low"), ("8", "high") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, Urls.PublishRaw(vhost, "amq.default", "q")) { Content = new StringContent(payload) };
            request.Headers.Add("Amqp-Priority", priority);
            (await _client.SendAsync(request)).EnsureSuccessStatusCode();
        }

        Assert.Equal(["high", "low"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_subscriber_receives_the_backlog_of_a_priority_queue_by_priority()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-max-priority", 10)));
        foreach (var (priority, payload) in new[] { (1, "a1"), (3, "b3"), (2, "c2"), (3, "d3") })
            await PublishAsync(vhost, "q", payload, new { priority });

        await using var socket = await SubscribedSocketAsync(vhost, "q");

        Assert.Equal(["b3", "d3", "c2", "a1"], (await socket.DeliveriesAsync(4)).Payloads());
    }

    [Fact]
    public async Task A_requeued_message_goes_back_before_later_messages_of_its_priority()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-max-priority", 10)));
        await PublishAsync(vhost, "q", "h1", new { priority = 7 });
        await PublishAsync(vhost, "q", "h2", new { priority = 7 });
        await PublishAsync(vhost, "q", "l1", new { priority = 1 });
        var first = await TakeOneManualAsync(vhost, "q");
        Assert.Equal("h1", first.Payload);

        await NackAsync(vhost, "q", first.DeliveryTag, requeue: true);

        Assert.Equal(["h1", "h2", "l1"], await PayloadsAsync(vhost, "q"));
    }

    // ------------------------------------------------------------------ delivery limit

    [Fact]
    public async Task A_message_requeued_past_x_delivery_limit_is_dead_lettered_with_reason_delivery_limit()
    {
        const int limit = 2;
        var vhost = await VhostAsync();
        await FanoutToAsync(vhost, "dlx", "poison");
        await DeclareAsync(vhost, "work", Args(("x-delivery-limit", limit), ("x-dead-letter-exchange", "dlx")));
        await PublishAsync(vhost, "work", "crashes-the-consumer");

        var counts = new List<int>();
        for (var attempt = 0; attempt <= limit; attempt++)
        {
            var delivery = await TakeOneManualAsync(vhost, "work");
            counts.Add(delivery.DeliveryCount);
            await NackAsync(vhost, "work", delivery.DeliveryTag, requeue: true);
        }

        Assert.Equal([1, 2, 3], counts);
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "work")).Messages);
        var dead = Assert.Single(await TakeAllAsync(vhost, "poison"));
        Assert.Equal("crashes-the-consumer", dead.Payload);
        IsDeath(Assert.Single(Deaths(dead)), queue: "work", reason: "delivery_limit", count: 1, exchange: "", routingKeys: ["work"]);
        HasFirstDeath(dead, queue: "work", reason: "delivery_limit", exchange: "");
    }

    [Fact]
    public async Task Deliveries_returned_by_a_closed_socket_count_toward_x_delivery_limit()
    {
        var vhost = await VhostAsync();
        await FanoutToAsync(vhost, "dlx", "poison");
        await DeclareAsync(vhost, "work", Args(("x-delivery-limit", 0), ("x-dead-letter-exchange", "dlx")));
        await PublishAsync(vhost, "work", "m");

        await using (var socket = await SubscribedSocketAsync(vhost, "work"))
        {
            Assert.Equal("m", (await socket.ExpectAsync("delivery")).Str("payload"));
            await socket.CloseAsync();
        }
        await WaitForReadyAsync(vhost, "poison", 1);

        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "work")).Messages);
        IsDeath(Assert.Single(Deaths(Assert.Single(await TakeAllAsync(vhost, "poison")))),
            queue: "work", reason: "delivery_limit", count: 1, exchange: "", routingKeys: ["work"]);
    }

    [Fact]
    public async Task A_message_within_x_delivery_limit_is_redelivered()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "work", Args(("x-delivery-limit", 1)));
        await PublishAsync(vhost, "work", "m");

        await NackAsync(vhost, "work", (await TakeOneManualAsync(vhost, "work")).DeliveryTag, requeue: true);
        var again = await TakeOneManualAsync(vhost, "work");
        await NackAsync(vhost, "work", again.DeliveryTag, requeue: true);

        Assert.Equal((true, 2), (again.Redelivered, again.DeliveryCount));
        // Past the limit without a dead-letter exchange: dropped.
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "work")).Messages);
    }

    // ------------------------------------------------------------------ single active consumer

    [Fact]
    public async Task With_a_single_active_consumer_only_the_first_subscriber_receives_until_it_cancels_then_the_next_takes_over()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-single-active-consumer", true)));
        await using var first = await SubscribedSocketAsync(vhost, "q", "first");
        await using var second = await SubscribedSocketAsync(vhost, "q", "second");
        await using var third = await SubscribedSocketAsync(vhost, "q", "third");

        foreach (var payload in new[] { "m1", "m2", "m3" }) await PublishAsync(vhost, "q", payload);
        var toFirst = await first.DeliveriesAsync(3);
        await first.SendAsync(new { type = "ack", deliveryTag = toFirst[0].Tag() });
        await second.PingAsync();
        await third.PingAsync();

        Assert.Equal(["m1", "m2", "m3"], toFirst.Payloads());
        Assert.Equal(3, (await _client.GetQueueAsync(vhost, "q")).Consumers);

        // The active consumer goes: its unacked m2 and m3 go back, and the earliest remaining subscriber takes over, in order.
        var cancelled = await first.RequestAsync(new { type = "cancel", id = "first" });
        Assert.Equal("cancelled", cancelled.Type());
        var toSecond = await second.DeliveriesAsync(2);
        await PublishAsync(vhost, "q", "m4");
        toSecond.Add(await second.ExpectAsync("delivery"));
        await third.PingAsync();

        Assert.Equal(["m2", "m3", "m4"], toSecond.Payloads());
        Assert.Equal([true, true, false], toSecond.Select(d => d.GetProperty("redelivered").GetBoolean()));
        var q = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((2, 0, 3), (q.Consumers, q.MessagesReady, q.MessagesUnacknowledged));
    }

    [Fact]
    public async Task With_a_single_active_consumer_a_closed_socket_hands_over_to_the_next_subscriber()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-single-active-consumer", true)));
        var first = await SubscribedSocketAsync(vhost, "q", "first");
        await using var second = await SubscribedSocketAsync(vhost, "q", "second");
        await PublishAsync(vhost, "q", "m1");
        Assert.Equal("m1", (await first.ExpectAsync("delivery")).Str("payload"));

        await first.DisposeAsync();

        Assert.Equal("m1", (await second.ExpectAsync("delivery")).Str("payload"));
    }

    [Fact]
    public async Task Without_single_active_consumer_subscribers_share_the_messages()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-single-active-consumer", false)));
        await using var first = await SubscribedSocketAsync(vhost, "q", "first");
        await using var second = await SubscribedSocketAsync(vhost, "q", "second");

        foreach (var payload in new[] { "m1", "m2" }) await PublishAsync(vhost, "q", payload);

        Assert.Single(await first.DeliveriesAsync(1));
        Assert.Single(await second.DeliveriesAsync(1));
    }
}
