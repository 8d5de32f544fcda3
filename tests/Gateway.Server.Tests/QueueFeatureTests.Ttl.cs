using Gateway.Testing;

namespace Gateway.Server.Tests;

// x-message-ttl and the per-message expiration property.
public sealed partial class QueueFeatureTests
{
    [Fact]
    public async Task A_message_past_the_queue_ttl_leaves_the_queue_without_a_consumer_and_is_never_delivered()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-message-ttl", Short)));

        await PublishAsync(vhost, "q", "stale");
        var after = await WaitForReadyAsync(vhost, "q", 0);

        Assert.Equal(0, after.Messages);
        Assert.Empty(await TakeAllAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_message_expiration_shorter_than_the_queue_ttl_wins()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-message-ttl", Long)));

        await PublishAsync(vhost, "q", "short", new { expiration = Short.ToString() });
        await PublishAsync(vhost, "q", "queue-ttl");
        await WaitForReadyAsync(vhost, "q", 1);

        Assert.Equal(["queue-ttl"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_queue_ttl_shorter_than_the_message_expiration_wins()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-message-ttl", Short)));

        await PublishAsync(vhost, "q", "long", new { expiration = Long.ToString() });
        await WaitForReadyAsync(vhost, "q", 0);

        Assert.Empty(await TakeAllAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_message_expiration_applies_on_a_queue_without_a_ttl_and_to_that_message_only()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");

        await PublishAsync(vhost, "q", "first");
        await PublishAsync(vhost, "q", "expiring", new { expiration = Short.ToString() });
        await PublishAsync(vhost, "q", "last");
        await WaitForReadyAsync(vhost, "q", 2);

        Assert.Equal(["first", "last"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_raw_publish_with_Amqp_Expiration_expires()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");
        using var request = new HttpRequestMessage(HttpMethod.Post, Urls.PublishRaw(vhost, "amq.default", "q")) { Content = new StringContent("raw") };
        request.Headers.Add("Amqp-Expiration", Short.ToString());

        (await _client.SendAsync(request)).EnsureSuccessStatusCode();
        await WaitForReadyAsync(vhost, "q", 0);

        Assert.Empty(await TakeAllAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_ttl_of_zero_expires_a_message_at_once_when_no_consumer_can_take_it()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-message-ttl", 0)));

        await PublishAsync(vhost, "q", "now-or-never");

        // Decided within the publish: no wait.
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    [Fact]
    public async Task A_ttl_of_zero_still_delivers_to_a_waiting_subscriber()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-message-ttl", 0)));
        await using var socket = await TestServerSockets.ConnectAsync(factory, vhost);
        Assert.Equal("subscribed", (await socket.RequestAsync(new { type = "subscribe", id = "s", queue = "q" })).Type());

        await PublishAsync(vhost, "q", "now-or-never");

        Assert.Equal("now-or-never", (await socket.ExpectAsync("delivery")).Str("payload"));
    }

    [Fact]
    public async Task An_expired_message_is_dead_lettered_with_reason_expired_and_an_x_death_header()
    {
        var vhost = await VhostAsync();
        await _client.DeclareExchangeAsync(vhost, "orders");
        await FanoutToAsync(vhost, "dlx", "dead");
        await DeclareAsync(vhost, "work", Args(("x-message-ttl", Short), ("x-dead-letter-exchange", "dlx")));
        await _client.BindAsync(vhost, "orders", "work", "order.created");

        await _client.PublishAsync(vhost, "orders", "order.created", "late",
            new { correlationId = "c-1", headers = new Dictionary<string, object> { ["tenant"] = "acme" } });
        await WaitForReadyAsync(vhost, "dead", 1);

        var dead = Assert.Single(await TakeAllAsync(vhost, "dead"));
        Assert.Equal(("late", "dlx", "order.created"), (dead.Payload, dead.Exchange, dead.RoutingKey));
        Assert.Equal("c-1", dead.Properties.GetProperty("correlationId").GetString());
        Assert.Equal("acme", Headers(dead).GetProperty("tenant").GetString());
        IsDeath(Assert.Single(Deaths(dead)), queue: "work", reason: "expired", count: 1, exchange: "orders", routingKeys: ["order.created"]);
        HasFirstDeath(dead, queue: "work", reason: "expired", exchange: "orders");
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "work")).Messages);
    }

    [Fact]
    public async Task A_message_dead_lettered_by_its_own_expiration_loses_it_and_keeps_it_as_original_expiration()
    {
        var vhost = await VhostAsync();
        await FanoutToAsync(vhost, "dlx", "dead");
        await DeclareAsync(vhost, "work", Args(("x-dead-letter-exchange", "dlx")));

        await PublishAsync(vhost, "work", "late", new { expiration = Short.ToString() });
        await WaitForReadyAsync(vhost, "dead", 1);

        var dead = Assert.Single(await TakeAllAsync(vhost, "dead"));
        Assert.False(dead.Properties.TryGetProperty("expiration", out var expiration) && expiration.ValueKind != System.Text.Json.JsonValueKind.Null,
            $"The dead-lettered copy must not expire again: {dead.Properties.GetRawText()}");
        var death = Assert.Single(Deaths(dead));
        // The default exchange is "" inside x-death, as RabbitMQ writes it (the header is the message's, not the API's).
        IsDeath(death, queue: "work", reason: "expired", count: 1, exchange: "", routingKeys: ["work"]);
        Assert.Equal(Short.ToString(), death.GetProperty("original-expiration").GetString());
    }
}
