using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>
/// When the backend loses a subscription's consumer (here: RabbitMQ closes every AMQP connection of this gateway node,
/// as it does when the node holding them goes away), WebSocket and SSE subscriptions are suspended and made again by
/// the gateway, under the same id and on the same socket or stream, without the client doing anything; what was not
/// acknowledged comes again, redelivered.
/// </summary>
public sealed class SubscriptionRestoreTests(SubscriptionRestoreTests.Node node) : IClassFixture<SubscriptionRestoreTests.Node>
{
    /// <summary>A gateway node of its own on the shared cluster, so that closing its connections disturbs no other test.</summary>
    public sealed class Node : RabbitMqGateway
    {
        public string ConnectionName => "gateway " + Settings["Gateway:RabbitMq:NodeName"];
    }

    private static readonly AsyncApiDocument AsyncApi = AsyncApiDocument.Load();
    private readonly HttpClient _client = node.CreateClient();

    private async Task<string> QueueAsync()
    {
        var queue = "restore-" + Guid.NewGuid().ToString("N")[..12];
        await _client.DeclareQueueAsync("default", queue);
        return queue;
    }

    private static void Documented(JsonElement frame) => AsyncApi.AssertValid(frame, closed: true);

    [Fact]
    public async Task A_WebSocket_subscription_is_suspended_and_restored_under_its_id_when_the_backend_drops_its_connection()
    {
        var queue = await QueueAsync();
        await _client.PublishToQueueAsync("default", queue, "before");
        await using var socket = await TestServerSockets.ConnectAsync(node, "default");
        await socket.SubscribeAsync("s", queue);
        var first = await socket.ExpectAsync("delivery");
        Assert.Equal("before", first.Str("payload"));
        Assert.False(first.GetProperty("redelivered").GetBoolean());

        Assert.True(await node.Cluster.CloseConnectionsAsync(node.ConnectionName) > 0);

        var suspended = await socket.ExpectAsync("suspended");
        Documented(suspended);
        Assert.Equal("s", suspended.Str("id"));
        Assert.Equal("backend-unavailable", suspended.Str("reason"));
        var restored = await socket.ExpectAsync("restored");
        Documented(restored);
        Assert.Equal("s", restored.Str("id"));
        // The unacknowledged delivery comes again on the restored subscription; the old tag is no longer the client's.
        var again = await socket.ExpectAsync("delivery");
        Assert.Equal(("s", "before", true), (again.Str("subscription"), again.Str("payload"), again.GetProperty("redelivered").GetBoolean()));
        await socket.AckAsync(first);
        var stale = await socket.ExpectAsync("error");
        Assert.Equal(404, stale.GetProperty("status").GetInt32());

        await _client.PublishToQueueAsync("default", queue, "after");
        var next = await socket.ExpectAsync("delivery");
        Assert.Equal(("s", "after"), (next.Str("subscription"), next.Str("payload")));
        await socket.AckAsync(again);
        await socket.AckAsync(next);
        await socket.PingAsync(); // the acks were taken (an unknown tag would have answered an error before the pong)
        await Eventually.WaitForAsync(() => _client.GetQueueAsync("default", queue), q => q.Messages == 0 && q.Consumers == 1,
            "the queue to be empty with the restored consumer on it");
    }

    [Fact]
    public async Task A_cancel_while_suspended_ends_the_subscription_and_no_consumer_is_left()
    {
        var queue = await QueueAsync();
        await using var socket = await TestServerSockets.ConnectAsync(node, "default");
        await socket.SubscribeAsync("s", queue);
        await Eventually.WaitForAsync(() => _client.GetQueueAsync("default", queue), q => q.Consumers == 1, "the consumer");

        await node.Cluster.CloseConnectionsAsync(node.ConnectionName);
        await socket.ExpectAsync("suspended");
        // Whether or not the gateway has made the consumer again yet, a cancel ends it.
        var answer = await socket.RequestAsync(new { type = "cancel", id = "s" });
        while (answer.Type() == "restored") answer = await socket.ReceiveAsync();

        Assert.Equal(("cancelled", "client"), (answer.Type(), answer.Str("reason")));
        await Eventually.WaitForAsync(() => _client.GetQueueAsync("default", queue), q => q.Consumers == 0, "no consumer on the queue");
        await socket.PingAsync();
    }

    [Fact]
    public async Task An_event_stream_is_suspended_and_restored_without_ending_when_the_backend_drops_its_connection()
    {
        var queue = await QueueAsync();
        await _client.PublishToQueueAsync("default", queue, "before");
        using var response = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"{Urls.Queue("default", queue)}/events"),
            HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var events = new EventStreamReader(await response.Content.ReadAsStreamAsync());
        var first = await events.NextAsync(Eventually.Deadline);
        Assert.Equal("delivery", first.Name);

        await node.Cluster.CloseConnectionsAsync(node.ConnectionName);

        var suspended = await events.NextAsync(Eventually.Deadline);
        Assert.Equal(("suspended", "backend-unavailable"), (suspended.Name, suspended.Data.GetProperty("reason").GetString()));
        Assert.Equal("restored", (await events.NextAsync(Eventually.Deadline)).Name);
        var again = await events.NextAsync(Eventually.Deadline);
        Assert.Equal(("delivery", "before", true),
            (again.Name, again.Data.GetProperty("payload").GetString(), again.Data.GetProperty("redelivered").GetBoolean()));
        var ack = await _client.PostAsJsonAsync(Urls.Ack("default", queue), new { deliveryTags = new[] { again.Id } });
        Assert.True(ack.IsSuccessStatusCode, $"ack answered {(int)ack.StatusCode}: {await ack.Content.ReadAsStringAsync()}");
        await Eventually.WaitForAsync(() => _client.GetQueueAsync("default", queue), q => q.Messages == 0, "the queue to be empty");
    }
}
