using System.Net;
using Gateway.Testing;

namespace Gateway.Server.Tests;

// x-dead-letter-exchange and x-dead-letter-routing-key: reason rejected, x-death over several deaths, cycles.
public sealed partial class QueueFeatureTests
{
    private async Task NackAsync(string vhost, string queue, string tag, bool requeue, long? delayMilliseconds = null)
    {
        object body = delayMilliseconds is { } delay
            ? new { deliveryTags = new[] { tag }, requeue, delayMilliseconds = delay }
            : new { deliveryTags = new[] { tag }, requeue };
        await _client.SendOkAsync(HttpMethod.Post, Urls.Nack(vhost, queue), body, HttpStatusCode.NoContent);
    }

    private async Task<ApiDelivery> TakeOneManualAsync(string vhost, string queue) =>
        Assert.Single(await _client.GetAsync(vhost, queue, new { max = 1, ackMode = "manual" }));

    [Fact]
    public async Task A_nack_without_requeue_dead_letters_the_message_with_reason_rejected()
    {
        var vhost = await VhostAsync();
        await FanoutToAsync(vhost, "dlx", "dead");
        await DeclareAsync(vhost, "work", Args(("x-dead-letter-exchange", "dlx")));
        await PublishAsync(vhost, "work", "poison", new { messageId = "m-1" });
        var delivery = await TakeOneManualAsync(vhost, "work");

        await NackAsync(vhost, "work", delivery.DeliveryTag, requeue: false);

        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "work")).Messages);
        var dead = Assert.Single(await TakeAllAsync(vhost, "dead"));
        Assert.Equal(("poison", "dlx", "work"), (dead.Payload, dead.Exchange, dead.RoutingKey));
        Assert.Equal("m-1", dead.Properties.GetProperty("messageId").GetString());
        Assert.False(dead.Redelivered);
        IsDeath(Assert.Single(Deaths(dead)), queue: "work", reason: "rejected", count: 1, exchange: "", routingKeys: ["work"]);
        HasFirstDeath(dead, queue: "work", reason: "rejected", exchange: "");
    }

    [Fact]
    public async Task A_websocket_nack_without_requeue_dead_letters_the_message()
    {
        var vhost = await VhostAsync();
        await FanoutToAsync(vhost, "dlx", "dead");
        await DeclareAsync(vhost, "work", Args(("x-dead-letter-exchange", "dlx")));
        await PublishAsync(vhost, "work", "poison");
        await using var socket = await TestServerSockets.ConnectAsync(factory, vhost);
        Assert.Equal("subscribed", (await socket.RequestAsync(new { type = "subscribe", id = "s", queue = "work" })).Type());
        var delivery = await socket.ExpectAsync("delivery");

        await socket.SendAsync(new { type = "nack", deliveryTag = delivery.Tag(), requeue = false });
        await socket.PingAsync();

        var dead = Assert.Single(await TakeAllAsync(vhost, "dead"));
        IsDeath(Assert.Single(Deaths(dead)), queue: "work", reason: "rejected", count: 1, exchange: "", routingKeys: ["work"]);
    }

    [Fact]
    public async Task A_nack_without_requeue_on_a_queue_without_a_dead_letter_exchange_drops_the_message()
    {
        var vhost = await VhostAsync();
        await FanoutToAsync(vhost, "dlx", "dead");
        await DeclareAsync(vhost, "work");
        await PublishAsync(vhost, "work", "dropped");

        await NackAsync(vhost, "work", (await TakeOneManualAsync(vhost, "work")).DeliveryTag, requeue: false);

        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "work")).Messages);
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "dead")).Messages);
    }

    [Fact]
    public async Task A_dead_letter_exchange_that_does_not_exist_drops_the_message()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "work", Args(("x-dead-letter-exchange", "missing")));
        await PublishAsync(vhost, "work", "dropped");

        await NackAsync(vhost, "work", (await TakeOneManualAsync(vhost, "work")).DeliveryTag, requeue: false);

        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "work")).Messages);
    }

    [Fact]
    public async Task X_dead_letter_routing_key_replaces_the_routing_key_of_the_dead_lettered_copy()
    {
        var vhost = await VhostAsync();
        await _client.DeclareExchangeAsync(vhost, "dlx", "direct");
        await DeclareAsync(vhost, "dead");
        await DeclareAsync(vhost, "other");
        await _client.BindAsync(vhost, "dlx", "dead", "dead-letters");
        await _client.BindAsync(vhost, "dlx", "other", "work");
        await DeclareAsync(vhost, "work", Args(("x-dead-letter-exchange", "dlx"), ("x-dead-letter-routing-key", "dead-letters")));
        await PublishAsync(vhost, "work", "m");

        await NackAsync(vhost, "work", (await TakeOneManualAsync(vhost, "work")).DeliveryTag, requeue: false);

        var dead = Assert.Single(await TakeAllAsync(vhost, "dead"));
        Assert.Equal(("dlx", "dead-letters"), (dead.Exchange, dead.RoutingKey));
        // x-death keeps the routing keys the message had in the queue it died in.
        IsDeath(Assert.Single(Deaths(dead)), queue: "work", reason: "rejected", count: 1, exchange: "", routingKeys: ["work"]);
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "other")).Messages);
    }

    [Fact]
    public async Task The_default_exchange_as_dead_letter_exchange_routes_by_the_dead_letter_routing_key()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "dead");
        await DeclareAsync(vhost, "work", Args(("x-message-ttl", Short), ("x-dead-letter-exchange", ""), ("x-dead-letter-routing-key", "dead")));

        await PublishAsync(vhost, "work", "m");
        await WaitForReadyAsync(vhost, "dead", 1);

        var dead = Assert.Single(await TakeAllAsync(vhost, "dead"));
        Assert.Equal(("amq.default", "dead"), (dead.Exchange, dead.RoutingKey));
        IsDeath(Assert.Single(Deaths(dead)), queue: "work", reason: "expired", count: 1, exchange: "", routingKeys: ["work"]);
    }

    [Fact]
    public async Task Each_death_adds_an_x_death_entry_most_recent_first_and_x_first_death_keeps_the_first()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "c");
        await DeclareAsync(vhost, "b", Args(("x-dead-letter-exchange", ""), ("x-dead-letter-routing-key", "c")));
        await DeclareAsync(vhost, "a", Args(("x-message-ttl", Short), ("x-dead-letter-exchange", ""), ("x-dead-letter-routing-key", "b")));
        await PublishAsync(vhost, "a", "traveller");
        await WaitForReadyAsync(vhost, "b", 1);

        await NackAsync(vhost, "b", (await TakeOneManualAsync(vhost, "b")).DeliveryTag, requeue: false);

        var final = Assert.Single(await TakeAllAsync(vhost, "c"));
        Assert.Equal(("traveller", "c"), (final.Payload, final.RoutingKey));
        var deaths = Deaths(final);
        Assert.Equal(2, deaths.Count);
        IsDeath(deaths[0], queue: "b", reason: "rejected", count: 1, exchange: "", routingKeys: ["b"]);
        IsDeath(deaths[1], queue: "a", reason: "expired", count: 1, exchange: "", routingKeys: ["a"]);
        HasFirstDeath(final, queue: "a", reason: "expired", exchange: "");
    }

    [Fact]
    public async Task A_queue_dead_lettering_expired_messages_to_itself_does_not_loop()
    {
        var vhost = await VhostAsync();
        await _client.DeclareExchangeAsync(vhost, "dlx", "fanout");
        await DeclareAsync(vhost, "seen");
        await DeclareAsync(vhost, "loop", Args(("x-message-ttl", Short), ("x-dead-letter-exchange", "dlx")));
        await _client.BindAsync(vhost, "dlx", "loop");
        await _client.BindAsync(vhost, "dlx", "seen");

        await PublishAsync(vhost, "loop", "cycling");
        await WaitForReadyAsync(vhost, "seen", 1);
        // A probe published now expires after any copy of "cycling" that re-entered the queue before it (same TTL, later
        // start), so when the probe's copy has arrived, a looping copy would have arrived first.
        await PublishAsync(vhost, "loop", "probe");
        await WaitForReadyAsync(vhost, "seen", 2);

        var seen = await TakeAllAsync(vhost, "seen");
        Assert.Equal(["cycling", "probe"], seen.Select(d => d.Payload));
        IsDeath(Assert.Single(Deaths(seen[0])), queue: "loop", reason: "expired", count: 1, exchange: "", routingKeys: ["loop"]);
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "loop")).Messages);
    }

    [Fact]
    public async Task A_rejected_message_may_dead_letter_back_into_its_own_queue_and_its_count_grows()
    {
        var vhost = await VhostAsync();
        // Rejections are a client's decision, so RabbitMQ lets them cycle (an automatic loop needs no client).
        await DeclareAsync(vhost, "retry", Args(("x-dead-letter-exchange", "")));
        await PublishAsync(vhost, "retry", "again");

        await NackAsync(vhost, "retry", (await TakeOneManualAsync(vhost, "retry")).DeliveryTag, requeue: false);
        var second = await TakeOneManualAsync(vhost, "retry");
        await NackAsync(vhost, "retry", second.DeliveryTag, requeue: false);
        var third = await TakeOneManualAsync(vhost, "retry");

        Assert.Equal("again", third.Payload);
        IsDeath(Assert.Single(Deaths(second)), queue: "retry", reason: "rejected", count: 1, exchange: "", routingKeys: ["retry"]);
        IsDeath(Assert.Single(Deaths(third)), queue: "retry", reason: "rejected", count: 2, exchange: "", routingKeys: ["retry"]);
    }
}
