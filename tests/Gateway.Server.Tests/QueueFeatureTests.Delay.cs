using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Gateway.Testing;

namespace Gateway.Server.Tests;

// Delayed delivery: the x-delay header (JSON and raw), nack with delayMilliseconds (HTTP and WebSocket), messagesDelayed.
public sealed partial class QueueFeatureTests
{
    private static Dictionary<string, object> DelayHeader(object milliseconds) => new() { ["x-delay"] = milliseconds };

    [Fact]
    public async Task A_message_with_x_delay_is_counted_as_delayed_invisible_until_due_then_delivered()
    {
        const int delay = 200;
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");

        var published = Stopwatch.StartNew();
        await PublishAsync(vhost, "q", "later", new { headers = DelayHeader(delay) });
        var before = await _client.GetQueueAsync(vhost, "q");
        var tooEarly = await TakeAllAsync(vhost, "q");
        var early = published.Elapsed;
        await WaitForReadyAsync(vhost, "q", 1);
        var ready = published.Elapsed;

        if (early < TimeSpan.FromMilliseconds(delay))
        {
            // Only meaningful while the delay has not passed (a starved test runner may be slower than the delay).
            Assert.Equal((1, 0, 1), (before.MessagesDelayed, before.MessagesReady, before.Messages));
            Assert.Empty(tooEarly);
        }
        Assert.True(ready >= TimeSpan.FromMilliseconds(delay), $"Ready after {ready.TotalMilliseconds} ms, before its {delay} ms delay.");
        var after = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((0, 1), (after.MessagesDelayed, after.Messages));
        Assert.Equal(["later"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_long_x_delay_keeps_the_message_delayed_and_out_of_reach()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");

        await PublishAsync(vhost, "q", "much-later", new { headers = DelayHeader(Long) });

        var q = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((1, 0, 1), (q.MessagesDelayed, q.MessagesReady, q.Messages));
        Assert.Empty(await TakeAllAsync(vhost, "q"));
        var listed = (await _client.GetFromJsonAsync<List<ApiQueue>>(Urls.Queues(vhost), GatewayFactory.Json))!;
        Assert.Equal(1, Assert.Single(listed).MessagesDelayed);
    }

    [Fact]
    public async Task Delayed_messages_become_ready_in_the_order_of_their_due_times()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");

        await PublishAsync(vhost, "q", "third", new { headers = DelayHeader(300) });
        await PublishAsync(vhost, "q", "first", new { headers = DelayHeader(100) });
        await PublishAsync(vhost, "q", "second", new { headers = DelayHeader(200) });
        await WaitForReadyAsync(vhost, "q", 3);

        Assert.Equal(["first", "second", "third"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_delayed_message_does_not_hold_back_the_messages_behind_it()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");

        await PublishAsync(vhost, "q", "delayed", new { headers = DelayHeader(Long) });
        await PublishAsync(vhost, "q", "now");

        Assert.Equal(["now"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_raw_publish_with_Amqp_Header_x_delay_is_delayed()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");
        using var request = new HttpRequestMessage(HttpMethod.Post, Urls.PublishRaw(vhost, "amq.default", "q")) { Content = new StringContent("raw") };
        request.Headers.Add("Amqp-Header-x-delay", Short.ToString());

        var published = Stopwatch.StartNew();
        (await _client.SendAsync(request)).EnsureSuccessStatusCode();
        await WaitForReadyAsync(vhost, "q", 1);

        Assert.True(published.Elapsed >= TimeSpan.FromMilliseconds(Short));
        Assert.Equal(["raw"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task A_raw_publish_with_a_long_Amqp_Header_x_delay_counts_as_delayed()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");
        using var request = new HttpRequestMessage(HttpMethod.Post, Urls.PublishRaw(vhost, "amq.default", "q")) { Content = new StringContent("raw") };
        request.Headers.Add("Amqp-Header-x-delay", Long.ToString());

        (await _client.SendAsync(request)).EnsureSuccessStatusCode();

        var q = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((1, 0), (q.MessagesDelayed, q.MessagesReady));
    }

    [Theory]
    [InlineData("\"100\"")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("true")]
    [InlineData("4294967296")]
    public async Task An_x_delay_header_that_is_not_a_millisecond_count_answers_400(string value)
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");

        var response = await _client.SendRawJsonAsync(HttpMethod.Post, Urls.Publish(vhost, "amq.default"),
            """{"routingKey":"q","payload":"m","properties":{"headers":{"x-delay":""" + value + "}}}");

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("x-delay", problem.GetRawText());
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    [Theory]
    [InlineData("soon")]
    [InlineData("-5")]
    [InlineData("1e3")]
    public async Task A_raw_Amqp_Header_x_delay_that_is_not_a_millisecond_count_answers_400(string value)
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");
        using var request = new HttpRequestMessage(HttpMethod.Post, Urls.PublishRaw(vhost, "amq.default", "q")) { Content = new StringContent("raw") };
        request.Headers.Add("Amqp-Header-x-delay", value);

        var problem = await ProblemAssert.IsProblemAsync(await _client.SendAsync(request), HttpStatusCode.BadRequest);

        Assert.Contains("x-delay", problem.Detail(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    [Fact]
    public async Task A_websocket_publish_with_x_delay_is_delayed()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");
        await using var socket = await TestServerSockets.ConnectAsync(factory, vhost);

        var confirm = await socket.RequestAsync(new
        {
            type = "publish", id = "p", exchange = "amq.default", routingKey = "q", payload = "m", properties = new { headers = DelayHeader(Long) },
        });

        Assert.Equal("confirm", confirm.Type());
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesDelayed);
    }

    [Fact]
    public async Task Purging_a_queue_drops_its_delayed_messages_too()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");
        await PublishAsync(vhost, "q", "delayed", new { headers = DelayHeader(Long) });
        await PublishAsync(vhost, "q", "ready");

        var purged = await _client.SendOkAsync(HttpMethod.Delete, Urls.QueueMessages(vhost, "q"), body: null, HttpStatusCode.OK);

        Assert.Equal(2, (await purged.Content.ReadFromJsonAsync<ApiPurgeResult>(GatewayFactory.Json))!.Purged);
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    // ------------------------------------------------------------------ nack with a delay

    [Fact]
    public async Task A_nack_with_delayMilliseconds_hides_the_message_that_long_then_redelivers_it()
    {
        const int delay = 200;
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");
        await PublishAsync(vhost, "q", "retry-me");
        var first = await TakeOneManualAsync(vhost, "q");

        var nacked = Stopwatch.StartNew();
        await NackAsync(vhost, "q", first.DeliveryTag, requeue: true, delayMilliseconds: delay);
        var during = await _client.GetQueueAsync(vhost, "q");
        var early = nacked.Elapsed;
        await WaitForReadyAsync(vhost, "q", 1);
        var ready = nacked.Elapsed;

        if (early < TimeSpan.FromMilliseconds(delay)) Assert.Equal((1, 0, 0), (during.MessagesDelayed, during.MessagesReady, during.MessagesUnacknowledged));
        Assert.True(ready >= TimeSpan.FromMilliseconds(delay), $"Ready after {ready.TotalMilliseconds} ms, before its {delay} ms delay.");
        var again = Assert.Single(await TakeAllAsync(vhost, "q"));
        Assert.Equal(("retry-me", true, 2), (again.Payload, again.Redelivered, again.DeliveryCount));
    }

    [Fact]
    public async Task A_nack_with_a_long_delay_counts_the_message_as_delayed()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");
        await PublishAsync(vhost, "q", "retry-me");

        await NackAsync(vhost, "q", (await TakeOneManualAsync(vhost, "q")).DeliveryTag, requeue: true, delayMilliseconds: Long);

        var q = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((1, 0, 0, 1), (q.MessagesDelayed, q.MessagesReady, q.MessagesUnacknowledged, q.Messages));
        Assert.Empty(await TakeAllAsync(vhost, "q"));
    }

    [Theory]
    [InlineData("""{"requeue":false,"delayMilliseconds":100}""")]
    [InlineData("""{"delayMilliseconds":-1}""")]
    [InlineData("""{"delayMilliseconds":4294967296}""")]
    public async Task A_nack_with_an_invalid_delay_answers_400_and_changes_nothing(string fields)
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");
        await PublishAsync(vhost, "q", "m");
        var delivery = await TakeOneManualAsync(vhost, "q");

        var response = await _client.SendRawJsonAsync(HttpMethod.Post, Urls.Nack(vhost, "q"),
            $$"""{"deliveryTags":["{{delivery.DeliveryTag}}"],{{fields[1..^1]}}}""");

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("delayMilliseconds", problem.GetRawText());
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesUnacknowledged);
    }

    [Fact]
    public async Task A_websocket_nack_with_delayMilliseconds_redelivers_to_the_subscription_once_due()
    {
        const int delay = 150;
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");
        await PublishAsync(vhost, "q", "retry-me");
        await using var socket = await SubscribedSocketAsync(vhost, "q");
        var first = await socket.ExpectAsync("delivery");

        var nacked = Stopwatch.StartNew();
        await socket.SendAsync(new { type = "nack", deliveryTag = first.Tag(), requeue = true, delayMilliseconds = delay });
        var again = await socket.ExpectAsync("delivery");

        Assert.True(nacked.Elapsed >= TimeSpan.FromMilliseconds(delay), $"Redelivered after {nacked.Elapsed.TotalMilliseconds} ms.");
        Assert.Equal(("retry-me", true, 2), (again.Str("payload"), again.GetProperty("redelivered").GetBoolean(), again.GetProperty("deliveryCount").GetInt32()));
    }

    [Fact]
    public async Task A_websocket_nack_with_a_long_delay_counts_the_message_as_delayed()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");
        await PublishAsync(vhost, "q", "retry-me");
        await using var socket = await SubscribedSocketAsync(vhost, "q");
        var first = await socket.ExpectAsync("delivery");

        await socket.SendAsync(new { type = "nack", deliveryTag = first.Tag(), delayMilliseconds = Long });
        await socket.PingAsync();

        var q = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((1, 0, 0), (q.MessagesDelayed, q.MessagesReady, q.MessagesUnacknowledged));
    }

    [Fact]
    public async Task A_websocket_nack_with_a_delay_and_requeue_false_answers_an_error_400()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");
        await PublishAsync(vhost, "q", "m");
        await using var socket = await SubscribedSocketAsync(vhost, "q");
        var first = await socket.ExpectAsync("delivery");

        var error = await socket.RequestAsync(new { type = "nack", id = "n", deliveryTag = first.Tag(), requeue = false, delayMilliseconds = 100 });

        error.IsError(400, "n");
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesUnacknowledged);
    }
}
