using System.Net.WebSockets;
using System.Text.Json;
using Gateway.Testing;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// The WebSocket protocol <c>gateway.v1.json</c> (docs/websocket-protocol.md) spoken by real
/// <see cref="ClientWebSocket"/>s to the built server running as a process (real Kestrel, real TCP on 127.0.0.1):
/// every client frame, every refusal, competing consumers, an aborted connection, garbage.
/// </summary>
public sealed partial class WebSocketProcessTests(LiveGateway gateway) : IClassFixture<LiveGateway>
{
    private const string Queue = "q";

    // ------------------------------------------------------------------ connecting and ping

    [Fact]
    public async Task A_real_ClientWebSocket_gets_the_gateway_v1_json_subprotocol()
    {
        var api = await gateway.NewVhostAsync();

        await using var socket = await gateway.ConnectAsync(api);

        Assert.Equal(SocketClient.SubProtocol, socket.Socket.SubProtocol);
        Assert.Equal(WebSocketState.Open, socket.Socket.State);
    }

    [Fact]
    public async Task Ping_is_answered_by_pong_with_its_id()
    {
        var api = await gateway.NewVhostAsync();
        await using var socket = await gateway.ConnectAsync(api);

        var pong = await socket.RequestAsync(new { type = "ping", id = "hb-1" });

        Assert.Equal(("pong", "hb-1"), (pong.Type(), pong.Str("id")));
    }

    // ------------------------------------------------------------------ subscribe, ack, nack, cancel

    [Fact]
    public async Task A_manual_subscription_delivers_in_order_and_a_single_ack_removes_one_message()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m1", "m2");
        await using var socket = await gateway.ConnectAsync(api);

        await socket.SubscribeAsync(id: "orders", queue: Queue, ackMode: "manual");
        var deliveries = await socket.DeliveriesAsync(2);
        await socket.AckAsync(deliveries[0]);
        await socket.PingAsync();

        Assert.Equal(["m1", "m2"], deliveries.Payloads());
        Assert.All(deliveries, d => Assert.Equal(("orders", false, 1, "amq.default", Queue),
            (d.Str("subscription"), d.GetProperty("redelivered").GetBoolean(), d.GetProperty("deliveryCount").GetInt32(), d.Str("exchange"), d.Str("routingKey"))));
        var q = await api.GetQueueAsync(Queue);
        Assert.Equal((1, 0, 1), (q.Messages, q.MessagesReady, q.MessagesUnacknowledged));
    }

    [Fact]
    public async Task An_auto_ack_subscription_delivers_and_empties_the_queue_without_acks()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m1", "m2", "m3");
        await using var socket = await gateway.ConnectAsync(api);

        await socket.SubscribeAsync(queue: Queue, prefetch: 1, ackMode: "auto");
        var deliveries = await socket.DeliveriesAsync(3);

        Assert.Equal(["m1", "m2", "m3"], deliveries.Payloads());
        await LiveGateway.WaitForAsync(() => api.GetQueueAsync(Queue), q => q.Messages == 0, "the auto-acked messages to leave the queue");
    }

    [Fact]
    public async Task Prefetch_bounds_the_unacked_deliveries_and_each_ack_lets_one_more_come()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m1", "m2", "m3", "m4", "m5");
        await using var socket = await gateway.ConnectAsync(api);

        await socket.SubscribeAsync(queue: Queue, prefetch: 2);
        var first = await socket.DeliveriesAsync(2);
        await socket.PingAsync(); // nothing beyond the prefetch arrived before the pong
        var held = await api.GetQueueAsync(Queue);
        await socket.AckAsync(first[0]);
        var third = await socket.ExpectAsync("delivery");
        await socket.PingAsync();

        Assert.Equal(["m1", "m2"], first.Payloads());
        Assert.Equal((3, 2), (held.MessagesReady, held.MessagesUnacknowledged));
        Assert.Equal("m3", third.Str("payload"));
    }

    [Fact]
    public async Task Ack_with_multiple_settles_every_outstanding_delivery_up_to_the_tag()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m1", "m2", "m3", "m4");
        await using var socket = await gateway.ConnectAsync(api);
        await socket.SubscribeAsync(queue: Queue);
        var deliveries = await socket.DeliveriesAsync(4);

        await socket.AckAsync(deliveries[2], multiple: true);
        await socket.PingAsync();

        var q = await api.GetQueueAsync(Queue);
        Assert.Equal((1, 0, 1), (q.Messages, q.MessagesReady, q.MessagesUnacknowledged));
    }

    [Fact]
    public async Task Nack_with_requeue_brings_the_message_back_redelivered_with_count_2()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m");
        await using var socket = await gateway.ConnectAsync(api);
        await socket.SubscribeAsync(queue: Queue);
        var first = await socket.ExpectAsync("delivery");

        await socket.NackAsync(first, requeue: true);
        var again = await socket.ExpectAsync("delivery");

        Assert.Equal(("m", true, 2), (again.Str("payload"), again.GetProperty("redelivered").GetBoolean(), again.GetProperty("deliveryCount").GetInt32()));
        Assert.NotEqual(first.Str("deliveryTag"), again.Str("deliveryTag"));
    }

    [Fact]
    public async Task Nack_without_requeue_drops_the_message()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m");
        await using var socket = await gateway.ConnectAsync(api);
        await socket.SubscribeAsync(queue: Queue);
        var delivery = await socket.ExpectAsync("delivery");

        await socket.NackAsync(delivery, requeue: false);
        await socket.PingAsync();

        Assert.Equal(0, (await api.GetQueueAsync(Queue)).Messages);
    }

    [Fact]
    public async Task Nack_with_multiple_requeues_every_outstanding_delivery_up_to_the_tag_in_order()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m1", "m2", "m3");
        await using var socket = await gateway.ConnectAsync(api);
        await socket.SubscribeAsync(queue: Queue, prefetch: 3);
        var deliveries = await socket.DeliveriesAsync(3);

        await socket.NackAsync(deliveries[1], requeue: true, multiple: true);
        var again = await socket.DeliveriesAsync(2);
        await socket.PingAsync();

        Assert.Equal(["m1", "m2"], again.Payloads());
        Assert.All(again, d => Assert.True(d.GetProperty("redelivered").GetBoolean()));
    }

    [Fact]
    public async Task Cancel_answers_cancelled_and_returns_the_unacked_deliveries_to_the_queue()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m1", "m2");
        await using var socket = await gateway.ConnectAsync(api);
        await socket.SubscribeAsync(id: "orders", queue: Queue);
        await socket.DeliveriesAsync(2);

        var cancelled = await socket.RequestAsync(new { type = "cancel", id = "orders" });
        await api.PublishAsync("amq.default", new PublishEnvelope(Queue, "after"));
        await socket.PingAsync(); // the cancelled subscription got nothing more

        Assert.Equal(("cancelled", "orders", "client"), (cancelled.Type(), cancelled.Str("id"), cancelled.Str("reason")));
        var q = await api.GetQueueAsync(Queue);
        Assert.Equal((3, 0, 0), (q.MessagesReady, q.MessagesUnacknowledged, q.Consumers));
    }

    [Fact]
    public async Task Deleting_the_queue_over_HTTP_cancels_the_subscription_with_reason_queue_deleted()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue);
        await using var socket = await gateway.ConnectAsync(api);
        await socket.SubscribeAsync(id: "orders", queue: Queue);

        await api.DeleteQueueAsync(Queue);
        var cancelled = await socket.ExpectAsync("cancelled");

        Assert.Equal(("orders", "queue-deleted"), (cancelled.Str("id"), cancelled.Str("reason")));
        await socket.PingAsync();
    }

    // ------------------------------------------------------------------ publishing

    [Fact]
    public async Task A_persistent_publish_to_a_durable_queue_is_confirmed_with_its_id_and_stored()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue);
        await using var socket = await gateway.ConnectAsync(api);

        var confirm = await socket.RequestAsync(new
        {
            type = "publish", id = "p-1", exchange = "amq.default", routingKey = Queue, payload = "hello",
            properties = new { deliveryMode = 2, contentType = "text/plain" },
        });

        Assert.Equal(("confirm", "p-1", true, 1),
            (confirm.Type(), confirm.Str("id"), confirm.GetProperty("routed").GetBoolean(), confirm.GetProperty("queues").GetInt32()));
        var stored = Assert.Single(await api.DrainAsync(Queue));
        Assert.Equal(("hello", 2), (stored.Payload, stored.Properties?.DeliveryMode));
    }

    [Fact]
    public async Task Publishes_are_confirmed_in_request_order()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue);
        await using var socket = await gateway.ConnectAsync(api);
        var ids = Enumerable.Range(0, 50).Select(i => $"p{i}").ToList();

        foreach (var id in ids) await socket.SendAsync(new { type = "publish", id, exchange = "amq.default", routingKey = Queue, payload = id });
        var confirmed = new List<string>();
        foreach (var _ in ids) confirmed.Add((await socket.ExpectAsync("confirm")).Str("id"));

        Assert.Equal(ids, confirmed);
        Assert.Equal(ids, (await api.DrainAsync(Queue)).Select(d => d.Payload));
    }

    [Fact]
    public async Task Publishing_to_a_missing_exchange_answers_an_error_404_with_the_request_id()
    {
        var api = await gateway.NewVhostAsync();
        await using var socket = await gateway.ConnectAsync(api);

        var error = await socket.RequestAsync(new { type = "publish", id = "p-9", exchange = "nope", routingKey = "k", payload = "x" });

        error.IsError(404, id: "p-9");
        await socket.PingAsync();
    }

    [Fact]
    public async Task A_mandatory_publish_that_no_queue_takes_answers_an_error_422()
    {
        var api = await gateway.NewVhostAsync();
        await using var socket = await gateway.ConnectAsync(api);

        var error = await socket.RequestAsync(new { type = "publish", id = "p", exchange = "amq.default", routingKey = "nobody", payload = "x", mandatory = true });

        error.IsError(422, id: "p");
    }

    [Fact]
    public async Task A_payload_over_MaxMessageBytes_answers_an_error_413_and_stores_nothing()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue);
        await using var socket = await gateway.ConnectAsync(api);

        var error = await socket.RequestAsync(new
        {
            type = "publish", id = "big", exchange = "amq.default", routingKey = Queue, payload = new string('x', LiveGateway.MaxMessageBytes + 1),
        });

        error.IsError(413, id: "big");
        Assert.Equal(0, (await api.GetQueueAsync(Queue)).Messages);
    }

    // ------------------------------------------------------------------ tags belong to their socket

    [Fact]
    public async Task Acking_a_tag_delivered_to_another_socket_answers_404_and_leaves_the_message_to_its_owner()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m");
        await using var owner = await gateway.ConnectAsync(api);
        await using var other = await gateway.ConnectAsync(api);
        await owner.SubscribeAsync(queue: Queue);
        var delivery = await owner.ExpectAsync("delivery");

        await other.AckAsync(delivery);
        var error = await other.ReceiveAsync();

        error.IsError(404);
        Assert.Equal(1, (await api.GetQueueAsync(Queue)).MessagesUnacknowledged);
        await owner.AckAsync(delivery);
        await owner.PingAsync();
        Assert.Equal(0, (await api.GetQueueAsync(Queue)).Messages);
    }

    [Fact]
    public async Task Acking_the_same_tag_twice_answers_an_error_404_and_the_socket_keeps_working()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m1", "m2");
        await using var socket = await gateway.ConnectAsync(api);
        await socket.SubscribeAsync(queue: Queue);
        var deliveries = await socket.DeliveriesAsync(2);
        await socket.AckAsync(deliveries[0]);

        await socket.AckAsync(deliveries[0]);
        var error = await socket.ReceiveAsync();
        await socket.AckAsync(deliveries[1]);
        await socket.PingAsync();

        error.IsError(404);
        Assert.Equal(0, (await api.GetQueueAsync(Queue)).Messages);
    }

    // ------------------------------------------------------------------ competing consumers and broken sockets

    [Fact]
    public async Task Two_sockets_on_one_queue_get_its_messages_round_robin()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue);
        await using var a = await gateway.ConnectAsync(api);
        await using var b = await gateway.ConnectAsync(api);
        await a.SubscribeAsync(queue: Queue);
        await b.SubscribeAsync(queue: Queue);

        var payloads = Enumerable.Range(1, 6).Select(i => $"m{i}").ToArray();
        foreach (var payload in payloads) await api.PublishAsync("amq.default", new PublishEnvelope(Queue, payload));
        var toA = (await a.DeliveriesAsync(3)).Payloads();
        var toB = (await b.DeliveriesAsync(3)).Payloads();
        await a.PingAsync();
        await b.PingAsync();

        var split = new[] { toA, toB }.OrderBy(p => p[0], StringComparer.Ordinal).ToArray();
        Assert.Equal(["m1", "m3", "m5"], split[0]);
        Assert.Equal(["m2", "m4", "m6"], split[1]);
    }

    [Fact]
    public async Task An_aborted_socket_s_unacked_deliveries_go_to_another_socket_redelivered_in_order()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m1", "m2", "m3");
        var crashing = await gateway.ConnectAsync(api);
        await using var survivor = await gateway.ConnectAsync(api);
        await crashing.SubscribeAsync(queue: Queue, prefetch: 3);
        var taken = await crashing.DeliveriesAsync(3);
        await survivor.SubscribeAsync(queue: Queue);
        await survivor.PingAsync(); // nothing is ready for it while the first socket holds everything

        crashing.Abort(); // no close handshake: the connection is reset
        var redelivered = await survivor.DeliveriesAsync(3);
        await crashing.DisposeAsync();

        Assert.Equal(["m1", "m2", "m3"], taken.Payloads());
        Assert.Equal(["m1", "m2", "m3"], redelivered.Payloads());
        Assert.All(redelivered, d => Assert.Equal((true, 2), (d.GetProperty("redelivered").GetBoolean(), d.GetProperty("deliveryCount").GetInt32())));
    }

    [Fact]
    public async Task A_socket_closed_normally_returns_its_unacked_deliveries_to_the_queue()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m1", "m2");
        await using (var socket = await gateway.ConnectAsync(api))
        {
            await socket.SubscribeAsync(queue: Queue);
            await socket.DeliveriesAsync(2);
            await socket.CloseAsync();
            Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        }

        var q = await LiveGateway.WaitForAsync(() => api.GetQueueAsync(Queue), q => q.MessagesReady == 2,
            "the deliveries of the closed socket to be back in the queue");
        Assert.Equal((0, 0), (q.MessagesUnacknowledged, q.Consumers));
    }
}
