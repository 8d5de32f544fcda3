using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Gateway.Testing;
using Microsoft.AspNetCore.Hosting;

namespace Gateway.Server.Tests;

/// <summary>The WebSocket protocol <c>gateway.v1.json</c> (docs/websocket-protocol.md) with real sockets through the test server.</summary>
public abstract partial class WebSocketTests<TFactory>(TFactory factory) : IClassFixture<TFactory> where TFactory : GatewayFactory
{
    private protected readonly HttpClient _client = factory.CreateClient();

    private protected async Task<string> VhostWithMessagesAsync(params string[] payloads)
    {
        var vhost = await _client.CreateVhostAsync("ws");
        await _client.DeclareQueueAsync(vhost, "q");
        foreach (var payload in payloads) await _client.PublishToQueueAsync(vhost, "q", payload);
        return vhost;
    }

    private protected Task<SocketClient> ConnectAsync(string vhost) => TestServerSockets.ConnectAsync(factory, vhost);

    private protected static Task SubscribeAsync(SocketClient socket, string id = "s", string queue = "q", int? prefetch = null, string? ackMode = null) =>
        socket.SubscribeAsync(id, queue, prefetch, ackMode);

    private protected static Task AckAsync(SocketClient socket, JsonElement delivery, bool multiple = false) => socket.AckAsync(delivery, multiple);

    private protected static List<string> Payloads(IEnumerable<JsonElement> deliveries) => deliveries.Payloads();

    private protected Task<ApiQueue> QueueAsync(string vhost, string queue = "q") => _client.GetQueueAsync(vhost, queue);

    // ------------------------------------------------------------------ connecting

    [Fact]
    public async Task The_server_selects_the_gateway_v1_json_subprotocol()
    {
        var vhost = await VhostWithMessagesAsync();

        await using var socket = await ConnectAsync(vhost);

        Assert.Equal(SocketClient.SubProtocol, socket.Socket.SubProtocol);
    }

    [Fact]
    public async Task A_plain_HTTP_GET_to_the_endpoint_answers_a_400_problem()
    {
        var vhost = await VhostWithMessagesAsync();

        var response = await _client.GetAsync($"{Urls.Vhost(vhost)}/ws");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task An_unknown_vhost_answers_404_before_the_upgrade()
    {
        var client = factory.Server.CreateWebSocketClient();
        client.SubProtocols.Add(SocketClient.SubProtocol);

        var e = await Assert.ThrowsAnyAsync<Exception>(() => client.ConnectAsync(SocketClient.Url("no-such-vhost"), CancellationToken.None));

        Assert.Contains("404", e.Message);
    }

    [Fact]
    public async Task A_plain_HTTP_GET_to_an_unknown_vhost_answers_a_404_problem()
    {
        var response = await _client.GetAsync($"{Urls.Vhost("no-such-vhost")}/ws");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Ping_answers_pong_with_its_id()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        var pong = await socket.RequestAsync(new { type = "ping", id = "hb-1" });

        Assert.Equal(("pong", "hb-1"), (pong.Type(), pong.Str("id")));
    }

    [Fact]
    public async Task Ping_without_an_id_answers_pong()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        var pong = await socket.RequestAsync(new { type = "ping" });

        Assert.Equal("pong", pong.Type());
    }

    // ------------------------------------------------------------------ subscribing and deliveries

    [Fact]
    public async Task A_subscription_answers_subscribed_then_delivers_the_queued_messages_in_order()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2");
        await using var socket = await ConnectAsync(vhost);

        await SubscribeAsync(socket, id: "orders");
        var deliveries = await socket.DeliveriesAsync(2);

        Assert.Equal(["m1", "m2"], Payloads(deliveries));
        foreach (var d in deliveries)
        {
            Assert.Equal("orders", d.Str("subscription"));
            Assert.False(d.GetProperty("redelivered").GetBoolean());
            Assert.Equal(1, d.GetProperty("deliveryCount").GetInt32());
            Assert.Equal(("amq.default", "q", "string"), (d.Str("exchange"), d.Str("routingKey"), d.Str("payloadEncoding")));
            Assert.Equal(JsonValueKind.Object, d.GetProperty("properties").ValueKind);
        }
        Assert.NotEqual(deliveries[0].Tag().GetRawText(), deliveries[1].Tag().GetRawText());
    }

    [Fact]
    public async Task A_message_published_over_HTTP_while_subscribed_is_delivered()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket);

        await _client.PublishAsync(vhost, "amq.default", "q", "late", new { contentType = "text/plain", correlationId = "c-1" });
        var delivery = await socket.ExpectAsync("delivery");

        Assert.Equal(("late", "s"), (delivery.Str("payload"), delivery.Str("subscription")));
        Assert.Equal(("text/plain", "c-1"), (delivery.GetProperty("properties").Str("contentType"), delivery.GetProperty("properties").Str("correlationId")));
    }

    [Fact]
    public async Task A_payload_that_is_not_UTF8_is_delivered_as_base64()
    {
        var vhost = await VhostWithMessagesAsync();
        byte[] bytes = [0xff, 0xfe, 0x00, 0x80];
        await _client.SendOkAsync(HttpMethod.Post, Urls.Publish(vhost, "amq.default"),
            new { routingKey = "q", payload = Convert.ToBase64String(bytes), payloadEncoding = "base64" }, HttpStatusCode.OK);
        await using var socket = await ConnectAsync(vhost);

        await SubscribeAsync(socket);
        var delivery = await socket.ExpectAsync("delivery");

        Assert.Equal("base64", delivery.Str("payloadEncoding"));
        Assert.Equal(bytes, Convert.FromBase64String(delivery.Str("payload")));
    }

    [Fact]
    public async Task A_subscription_has_at_most_prefetch_unacknowledged_deliveries()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2", "m3", "m4", "m5");
        await using var socket = await ConnectAsync(vhost);

        await SubscribeAsync(socket, prefetch: 2);
        var first = await socket.DeliveriesAsync(2);
        await socket.PingAsync();

        Assert.Equal(["m1", "m2"], Payloads(first));
        var q = await QueueAsync(vhost);
        Assert.Equal((3, 2), (q.MessagesReady, q.MessagesUnacknowledged));
    }

    [Fact]
    public async Task Acking_a_delivery_at_the_prefetch_limit_lets_the_next_one_come()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2", "m3", "m4", "m5");
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket, prefetch: 2);
        var first = await socket.DeliveriesAsync(2);
        await socket.PingAsync();

        await AckAsync(socket, first[0]);
        var third = await socket.ExpectAsync("delivery");
        await socket.PingAsync();

        Assert.Equal("m3", third.Str("payload"));
    }

    [Fact]
    public async Task Ack_removes_the_message_and_answers_nothing()
    {
        var vhost = await VhostWithMessagesAsync("m");
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket);
        var delivery = await socket.ExpectAsync("delivery");

        await AckAsync(socket, delivery);
        await socket.PingAsync();

        var q = await QueueAsync(vhost);
        Assert.Equal((0, 0), (q.Messages, q.MessagesUnacknowledged));
    }

    [Fact]
    public async Task Ack_with_multiple_settles_every_earlier_delivery_of_the_subscription()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2", "m3", "m4");
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket);
        var deliveries = await socket.DeliveriesAsync(4);

        await AckAsync(socket, deliveries[2], multiple: true);
        await socket.PingAsync();

        var q = await QueueAsync(vhost);
        Assert.Equal((1, 0, 1), (q.Messages, q.MessagesReady, q.MessagesUnacknowledged));
        // m4 came after the acked tag, so it is still outstanding and can be acked on its own.
        await AckAsync(socket, deliveries[3]);
        await socket.PingAsync();
        Assert.Equal(0, (await QueueAsync(vhost)).Messages);
    }

    [Fact]
    public async Task Ack_with_multiple_leaves_the_deliveries_of_another_subscription_alone()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2");
        await _client.DeclareQueueAsync(vhost, "other");
        await _client.PublishToQueueAsync(vhost, "other", "o1");
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket, id: "b", queue: "other");
        var foreign = await socket.ExpectAsync("delivery");
        await SubscribeAsync(socket, id: "a", queue: "q");
        var deliveries = await socket.DeliveriesAsync(2);

        await AckAsync(socket, deliveries[1], multiple: true);
        await socket.PingAsync();

        Assert.Equal("b", foreign.Str("subscription"));
        Assert.Equal(0, (await QueueAsync(vhost)).Messages);
        Assert.Equal(1, (await QueueAsync(vhost, "other")).MessagesUnacknowledged);
    }

    [Fact]
    public async Task Nack_with_requeue_redelivers_the_message_as_redelivered_with_count_2()
    {
        var vhost = await VhostWithMessagesAsync("m");
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket);
        var first = await socket.ExpectAsync("delivery");

        await socket.SendAsync(new { type = "nack", deliveryTag = first.Tag(), requeue = true });
        var again = await socket.ExpectAsync("delivery");

        Assert.Equal("m", again.Str("payload"));
        Assert.True(again.GetProperty("redelivered").GetBoolean());
        Assert.Equal(2, again.GetProperty("deliveryCount").GetInt32());
    }

    [Fact]
    public async Task Nack_requeues_by_default()
    {
        var vhost = await VhostWithMessagesAsync("m");
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket);
        var first = await socket.ExpectAsync("delivery");

        await socket.SendAsync(new { type = "nack", deliveryTag = first.Tag() });
        var again = await socket.ExpectAsync("delivery");

        Assert.Equal(("m", true), (again.Str("payload"), again.GetProperty("redelivered").GetBoolean()));
    }

    [Fact]
    public async Task Nack_without_requeue_drops_the_message()
    {
        var vhost = await VhostWithMessagesAsync("m");
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket);
        var delivery = await socket.ExpectAsync("delivery");

        await socket.SendAsync(new { type = "nack", deliveryTag = delivery.Tag(), requeue = false });
        await socket.PingAsync();

        Assert.Equal(0, (await QueueAsync(vhost)).Messages);
    }

    [Fact]
    public async Task An_auto_ack_subscription_empties_the_queue()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2", "m3");
        await using var socket = await ConnectAsync(vhost);

        await SubscribeAsync(socket, ackMode: "auto");
        var deliveries = await socket.DeliveriesAsync(3);

        Assert.Equal(["m1", "m2", "m3"], Payloads(deliveries));
        await Eventually.WaitForAsync(() => QueueAsync(vhost), q => q.Messages == 0, "the auto-acked messages to be gone");
    }

    [Fact]
    public async Task An_auto_ack_subscription_is_not_limited_by_acks()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2", "m3", "m4");
        await using var socket = await ConnectAsync(vhost);

        await SubscribeAsync(socket, prefetch: 1, ackMode: "auto");
        var deliveries = await socket.DeliveriesAsync(4);

        Assert.Equal(["m1", "m2", "m3", "m4"], Payloads(deliveries));
    }

    // ------------------------------------------------------------------ tags belong to their socket

    [Fact]
    public async Task Acking_a_tag_twice_answers_an_error_404_and_the_socket_keeps_working()
    {
        var vhost = await VhostWithMessagesAsync("m");
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket);
        var delivery = await socket.ExpectAsync("delivery");
        await AckAsync(socket, delivery);

        await AckAsync(socket, delivery);
        var error = await socket.ReceiveAsync();

        error.IsError(404);
        await socket.PingAsync();
    }

    [Fact]
    public async Task Acking_a_tag_delivered_on_another_socket_answers_404_and_leaves_the_message_to_its_owner()
    {
        var vhost = await VhostWithMessagesAsync("m");
        await using var owner = await ConnectAsync(vhost);
        await using var other = await ConnectAsync(vhost);
        await SubscribeAsync(owner);
        var delivery = await owner.ExpectAsync("delivery");

        await AckAsync(other, delivery);
        var error = await other.ReceiveAsync();

        error.IsError(404);
        Assert.Equal(1, (await QueueAsync(vhost)).MessagesUnacknowledged);
        await AckAsync(owner, delivery);
        await owner.PingAsync();
        Assert.Equal(0, (await QueueAsync(vhost)).Messages);
    }

    [Fact]
    public async Task Nacking_a_tag_delivered_on_another_socket_answers_404_and_requeues_nothing()
    {
        var vhost = await VhostWithMessagesAsync("m");
        await using var owner = await ConnectAsync(vhost);
        await using var other = await ConnectAsync(vhost);
        await SubscribeAsync(owner);
        var delivery = await owner.ExpectAsync("delivery");

        await other.SendAsync(new { type = "nack", deliveryTag = delivery.Tag(), requeue = false });
        var error = await other.ReceiveAsync();

        error.IsError(404);
        var q = await QueueAsync(vhost);
        Assert.Equal((1, 1), (q.Messages, q.MessagesUnacknowledged));
    }

    [Fact]
    public async Task Acking_a_tag_from_an_HTTP_get_answers_404()
    {
        var vhost = await VhostWithMessagesAsync("m");
        var pulled = Assert.Single(await _client.GetAsync(vhost, "q"));
        await using var socket = await ConnectAsync(vhost);

        await socket.SendAsync(new { type = "ack", deliveryTag = pulled.DeliveryTag });
        var error = await socket.ReceiveAsync();

        error.IsError(404);
        Assert.Equal(1, (await QueueAsync(vhost)).MessagesUnacknowledged);
    }

    // ------------------------------------------------------------------ the end of subscriptions

    [Fact]
    public async Task Closing_the_socket_requeues_its_unacknowledged_deliveries()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2");
        var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket);
        await socket.DeliveriesAsync(2);

        await socket.CloseAsync();
        await socket.DisposeAsync();

        await Eventually.WaitForAsync(() => QueueAsync(vhost), q => q.MessagesReady == 2 && q.MessagesUnacknowledged == 0,
            "the unacked deliveries to be back in the queue");
    }

    [Fact]
    public async Task Deliveries_requeued_by_a_closed_socket_go_to_a_new_subscriber_redelivered_in_their_order()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2", "m3");
        await using (var first = await ConnectAsync(vhost))
        {
            await SubscribeAsync(first, prefetch: 2);
            await first.DeliveriesAsync(2);
            await first.CloseAsync();
        }
        await Eventually.WaitForAsync(() => QueueAsync(vhost), q => q.MessagesReady == 3, "the unacked deliveries to be back in the queue");
        await using var second = await ConnectAsync(vhost);

        await SubscribeAsync(second);
        var deliveries = await second.DeliveriesAsync(3);

        Assert.Equal(["m1", "m2", "m3"], Payloads(deliveries));
        Assert.Equal([true, true, false], deliveries.Select(d => d.GetProperty("redelivered").GetBoolean()));
        Assert.Equal([2, 2, 1], deliveries.Select(d => d.GetProperty("deliveryCount").GetInt32()));
    }

    [Fact]
    public async Task Cancel_answers_cancelled_with_reason_client()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket, id: "orders");

        var cancelled = await socket.RequestAsync(new { type = "cancel", id = "orders" });

        Assert.Equal(("cancelled", "orders", "client"), (cancelled.Type(), cancelled.Str("id"), cancelled.Str("reason")));
    }

    [Fact]
    public async Task Cancel_requeues_the_subscriptions_unacknowledged_deliveries()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2");
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket);
        await socket.DeliveriesAsync(2);

        await socket.SendAsync(new { type = "cancel", id = "s" });
        await socket.ExpectAsync("cancelled");

        await Eventually.WaitForAsync(() => QueueAsync(vhost), q => q.MessagesReady == 2 && q.MessagesUnacknowledged == 0,
            "the cancelled subscription's deliveries to be back in the queue");
    }

    [Fact]
    public async Task A_cancelled_subscription_gets_no_more_deliveries()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket);
        await socket.RequestAsync(new { type = "cancel", id = "s" });

        await _client.PublishToQueueAsync(vhost, "q", "after");
        await socket.PingAsync();

        Assert.Equal(1, (await QueueAsync(vhost)).MessagesReady);
    }

    [Fact]
    public async Task Deleting_the_queue_cancels_its_subscriptions_with_reason_queue_deleted()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket, id: "orders");

        await _client.SendOkAsync(HttpMethod.Delete, Urls.Queue(vhost, "q"), body: null, HttpStatusCode.NoContent);
        var cancelled = await socket.ReceiveAsync();

        Assert.Equal(("cancelled", "orders", "queue-deleted"), (cancelled.Type(), cancelled.Str("id"), cancelled.Str("reason")));
        await socket.PingAsync();
    }

    [Fact]
    public async Task Two_sockets_on_one_queue_share_its_messages_round_robin()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var a = await ConnectAsync(vhost);
        await using var b = await ConnectAsync(vhost);
        await SubscribeAsync(a);
        await SubscribeAsync(b);

        foreach (var payload in new[] { "m1", "m2", "m3", "m4" }) await _client.PublishToQueueAsync(vhost, "q", payload);
        var toA = Payloads(await a.DeliveriesAsync(2));
        var toB = Payloads(await b.DeliveriesAsync(2));
        await a.PingAsync();
        await b.PingAsync();

        var split = new[] { toA, toB }.OrderBy(p => p[0], StringComparer.Ordinal).ToArray();
        Assert.Equal(["m1", "m3"], split[0]);
        Assert.Equal(["m2", "m4"], split[1]);
    }

    // ------------------------------------------------------------------ publishing

    [Fact]
    public async Task Publish_to_the_default_exchange_stores_the_payload_and_properties()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        var confirm = await socket.RequestAsync(new
        {
            type = "publish", id = "p", exchange = "amq.default", routingKey = "q", payload = Convert.ToBase64String([0xff, 0x01]),
            payloadEncoding = "base64", properties = new { contentType = "application/octet-stream", messageId = "id-7" },
        });

        Assert.Equal("confirm", confirm.Type());
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));
        Assert.Equal(new byte[] { 0xff, 0x01 }, delivery.Body);
        Assert.Equal("id-7", delivery.Properties.GetProperty("messageId").GetString());
    }

    [Fact]
    public async Task Several_publishes_are_confirmed_in_request_order()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);
        var ids = Enumerable.Range(0, 20).Select(i => $"p{i}").ToList();

        foreach (var id in ids)
            await socket.SendAsync(new { type = "publish", id, exchange = "amq.default", routingKey = "q", payload = id });
        var confirms = new List<string>();
        foreach (var _ in ids) confirms.Add((await socket.ExpectAsync("confirm")).Str("id"));

        Assert.Equal(ids, confirms);
        Assert.Equal(ids, (await _client.GetAsync(vhost, "q", new { max = 100 })).Select(d => d.Payload));
    }

    [Fact]
    public async Task A_socket_receives_the_messages_it_publishes_to_its_own_subscription()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket);

        await socket.SendAsync(new { type = "publish", id = "p", exchange = "amq.default", routingKey = "q", payload = "echo" });
        var frames = new[] { await socket.ReceiveAsync(), await socket.ReceiveAsync() };

        Assert.Contains(frames, f => f.Type() == "confirm" && f.Str("id") == "p");
        Assert.Contains(frames, f => f.Type() == "delivery" && f.Str("payload") == "echo");
    }

    [Fact]
    public async Task Publishing_to_a_missing_exchange_answers_an_error_404_with_the_request_id()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        var error = await socket.RequestAsync(new { type = "publish", id = "p-9", exchange = "nope", routingKey = "q", payload = "x" });

        error.IsError(404, id: "p-9");
        await socket.PingAsync();
    }

    [Fact]
    public async Task Publishing_to_an_internal_exchange_answers_an_error_403()
    {
        var vhost = await VhostWithMessagesAsync();
        await _client.DeclareExchangeAsync(vhost, "inner", "fanout", @internal: true);
        await using var socket = await ConnectAsync(vhost);

        var error = await socket.RequestAsync(new { type = "publish", id = "p", exchange = "inner", routingKey = "", payload = "x" });

        error.IsError(403, id: "p");
    }

    [Fact]
    public async Task A_mandatory_publish_that_no_queue_takes_answers_an_error_422()
    {
        var vhost = await VhostWithMessagesAsync();
        await _client.DeclareExchangeAsync(vhost, "lonely");
        await using var socket = await ConnectAsync(vhost);

        var error = await socket.RequestAsync(new { type = "publish", id = "p", exchange = "lonely", routingKey = "k", payload = "x", mandatory = true });

        error.IsError(422, id: "p");
    }

    [Fact]
    public async Task A_publish_that_no_queue_takes_answers_a_confirm_not_routed()
    {
        var vhost = await VhostWithMessagesAsync();
        await _client.DeclareExchangeAsync(vhost, "lonely");
        await using var socket = await ConnectAsync(vhost);

        var confirm = await socket.RequestAsync(new { type = "publish", id = "p", exchange = "lonely", routingKey = "k", payload = "x" });

        Assert.Equal(("confirm", false, 0),
            (confirm.Type(), confirm.GetProperty("routed").GetBoolean(), confirm.GetProperty("queues").GetInt32()));
    }

    // ------------------------------------------------------------------ refused frames

    [Fact]
    public async Task Invalid_JSON_answers_an_error_400_and_the_socket_stays_open()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        await socket.SendTextAsync("{\"type\": \"ping\", ");
        var error = await socket.ReceiveAsync();

        error.IsError(400);
        await socket.PingAsync();
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("42")]
    [InlineData("{}")]
    [InlineData("{\"type\": 1}")]
    public async Task A_frame_that_is_not_an_object_with_a_type_answers_an_error_400(string text)
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        await socket.SendTextAsync(text);
        var error = await socket.ReceiveAsync();

        error.IsError(400);
        await socket.PingAsync();
    }

    [Fact]
    public async Task An_unknown_frame_type_answers_an_error_400()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        var error = await socket.RequestAsync(new { type = "consume", id = "x", queue = "q" });

        Assert.Equal("error", error.Type());
        Assert.Equal(400, error.GetProperty("status").GetInt32());
        await socket.PingAsync();
    }

    [Fact]
    public async Task A_binary_frame_answers_an_error_400_and_the_socket_stays_open()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        await socket.SendBinaryAsync("{\"type\":\"ping\",\"id\":\"b\"}"u8.ToArray());
        var error = await socket.ReceiveAsync();

        error.IsError(400);
        await socket.PingAsync();
    }

    [Fact]
    public async Task A_subscribe_without_a_queue_answers_an_error_400_with_its_id()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        var error = await socket.RequestAsync(new { type = "subscribe", id = "s" });

        error.IsError(400, id: "s");
    }

    [Fact]
    public async Task A_wrongly_typed_field_answers_an_error_400()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        var error = await socket.RequestAsync(new { type = "subscribe", id = "s", queue = "q", prefetch = "10" });

        Assert.Equal(("error", 400), (error.Type(), error.GetProperty("status").GetInt32()));
        await socket.PingAsync();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10001)]
    public async Task A_prefetch_outside_1_to_10000_answers_an_error_400(int prefetch)
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        var error = await socket.RequestAsync(new { type = "subscribe", id = "s", queue = "q", prefetch });

        error.IsError(400, id: "s");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10000)]
    public async Task A_prefetch_at_the_bounds_is_accepted(int prefetch)
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        await SubscribeAsync(socket, prefetch: prefetch);
    }

    [Fact]
    public async Task An_unknown_ackMode_answers_an_error_400()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        var error = await socket.RequestAsync(new { type = "subscribe", id = "s", queue = "q", ackMode = "sometimes" });

        Assert.Equal(("error", 400), (error.Type(), error.GetProperty("status").GetInt32()));
    }

    [Fact]
    public async Task Subscribing_to_a_missing_queue_answers_an_error_404_with_the_subscription_id()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var socket = await ConnectAsync(vhost);

        var error = await socket.RequestAsync(new { type = "subscribe", id = "s", queue = "nope" });

        error.IsError(404, id: "s");
        await socket.PingAsync();
    }

    [Fact]
    public async Task A_duplicate_subscription_id_answers_an_error_409()
    {
        var vhost = await VhostWithMessagesAsync();
        await _client.DeclareQueueAsync(vhost, "q2");
        await using var socket = await ConnectAsync(vhost);
        await SubscribeAsync(socket, id: "dup");

        var error = await socket.RequestAsync(new { type = "subscribe", id = "dup", queue = "q2" });

        error.IsError(409, id: "dup");
        await socket.PingAsync();
    }

    [Fact]
    public async Task The_same_subscription_id_on_two_sockets_is_no_conflict()
    {
        var vhost = await VhostWithMessagesAsync();
        await using var a = await ConnectAsync(vhost);
        await using var b = await ConnectAsync(vhost);

        await SubscribeAsync(a, id: "same");
        await SubscribeAsync(b, id: "same");
    }

    [Fact]
    public async Task A_frame_larger_than_MaxRequestBodyBytes_closes_the_socket_with_1009()
    {
        using var root = new GatewayFactory();
        using var small = root.WithWebHostBuilder(b => b
            .UseSetting("Gateway:Limits:MaxMessageBytes", "1024")
            .UseSetting("Gateway:Limits:MaxRequestBodyBytes", 4096.ToString(CultureInfo.InvariantCulture)));
        var vhost = await small.CreateClient().CreateVhostAsync("ws");
        await using var socket = await TestServerSockets.ConnectAsync(small, vhost);

        await socket.SendAsync(new { type = "ping", id = new string('x', 8192) });
        await socket.WaitForServerCloseAsync();

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, socket.CloseStatus);
    }
}

/// <summary>WebSocketTests on the embedded engine.</summary>
public sealed class WebSocketTests(GatewayFactory factory) : WebSocketTests<GatewayFactory>(factory)
{
    // Behaviour of the embedded engine that the RabbitMQ backend does not have (README, "Backends").

    [Fact]
    public async Task Publish_answers_a_confirm_with_its_id_and_the_queues_that_took_it()
    {
        var vhost = await VhostWithMessagesAsync();
        await _client.DeclareQueueAsync(vhost, "q2");
        await _client.DeclareExchangeAsync(vhost, "fan", "fanout");
        await _client.BindAsync(vhost, "fan", "q");
        await _client.BindAsync(vhost, "fan", "q2");
        await using var socket = await ConnectAsync(vhost);

        var confirm = await socket.RequestAsync(new { type = "publish", id = "p-1", exchange = "fan", routingKey = "", payload = "hello" });

        Assert.Equal(("confirm", "p-1"), (confirm.Type(), confirm.Str("id")));
        Assert.Equal((true, 2), (confirm.GetProperty("routed").GetBoolean(), confirm.GetProperty("queues").GetInt32()));
        Assert.Equal(["hello"], (await _client.GetAsync(vhost, "q2")).Select(d => d.Payload));
    }
}

/// <summary>WebSocketTests on the RabbitMQ backend.</summary>
public sealed class WebSocketTestsOnRabbitMq(RabbitMqGateway factory) : WebSocketTests<RabbitMqGateway>(factory);

/// <summary>A consumer that never reads: the queue keeps the messages, the server holds at most the prefetch.</summary>
public sealed class SlowWebSocketConsumerTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    [Fact]
    public async Task A_subscriber_that_never_reads_holds_only_its_prefetch_and_the_rest_stays_in_the_queue()
    {
        var client = factory.CreateClient();
        var vhost = await client.CreateVhostAsync();
        await client.DeclareQueueAsync(vhost, "slow");
        for (var i = 0; i < 200; i++) await client.PublishToQueueAsync(vhost, "slow", $"m{i}");

        var ws = factory.Server.CreateWebSocketClient();
        ws.SubProtocols.Add(SocketClient.SubProtocol);
        using var socket = await ws.ConnectAsync(SocketClient.Url(vhost), CancellationToken.None);
        var subscribe = System.Text.Encoding.UTF8.GetBytes("""{"type":"subscribe","id":"s","queue":"slow","prefetch":5}""");
        await socket.SendAsync(subscribe, System.Net.WebSockets.WebSocketMessageType.Text, true, CancellationToken.None);

        // Nothing is read from the socket: the server must stop at the prefetch, not drain the queue into buffers.
        var held = await Eventually.WaitForAsync(() => client.GetQueueAsync(vhost, "slow"), q => q.MessagesUnacknowledged == 5, "the prefetch to fill");
        Assert.Equal(195, held.MessagesReady);
        var later = await client.GetQueueAsync(vhost, "slow");
        Assert.Equal((195, 5), (later.MessagesReady, later.MessagesUnacknowledged));
    }
}
