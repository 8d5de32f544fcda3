using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>Server-Sent Events at /api/vhosts/{vhost}/queues/{queue}/events, read by a real HTTP client as a stream.</summary>
public abstract class EventStreamTests<TFactory>(TFactory factory) : IClassFixture<TFactory> where TFactory : GatewayFactory
{
    private protected readonly HttpClient _client = factory.CreateClient();

    /// <summary>An open event stream and its response.</summary>
    private protected sealed class EventStream(HttpResponseMessage response, Stream body) : IDisposable
    {
        private readonly EventStreamReader _reader = new(body);

        public HttpResponseMessage Response { get; } = response;

        public Task<ServerSentEvent> NextAsync() => _reader.NextAsync(Eventually.Deadline);

        public void Dispose()
        {
            _reader.Dispose();
            Response.Dispose();
        }
    }

    private protected async Task<EventStream> OpenAsync(string vhost, string queue, string query = "", string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"{Urls.Queue(vhost, queue)}/events{query}");
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return new EventStream(response, await response.Content.ReadAsStreamAsync());
    }

    private protected async Task<string> QueueWithMessagesAsync(string vhost, params string[] payloads)
    {
        await _client.DeclareQueueAsync(vhost, "q");
        foreach (var payload in payloads) await _client.PublishToQueueAsync(vhost, "q", payload);
        return "q";
    }

    [Fact]
    public async Task Deliveries_arrive_as_events_whose_id_is_the_delivery_tag_and_can_be_acked_over_HTTP()
    {
        var vhost = await _client.CreateVhostAsync();
        var queue = await QueueWithMessagesAsync(vhost, "one", "two");

        using var stream = await OpenAsync(vhost, queue);
        var first = await stream.NextAsync();
        var second = await stream.NextAsync();

        Assert.Equal(["delivery", "delivery"], new[] { first.Name, second.Name });
        Assert.Equal("one", first.Data.GetProperty("payload").GetString());
        Assert.Equal("two", second.Data.GetProperty("payload").GetString());
        Assert.Equal(first.Id, first.Data.GetProperty("deliveryTag").GetString());
        var ack = await _client.PostAsJsonAsync(Urls.Ack(vhost, queue), new { deliveryTags = new[] { first.Id, second.Id } });
        Assert.Equal(HttpStatusCode.NoContent, ack.StatusCode);
        await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, queue), q => q.Messages == 0, "the acked messages to leave");
    }

    [Fact]
    public async Task Closing_the_stream_returns_unacked_deliveries_to_the_queue()
    {
        var vhost = await _client.CreateVhostAsync();
        var queue = await QueueWithMessagesAsync(vhost, "kept");

        using (var stream = await OpenAsync(vhost, queue))
            Assert.Equal("kept", (await stream.NextAsync()).Data.GetProperty("payload").GetString());

        var back = await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, queue),
            q => q.MessagesReady == 1 && q.MessagesUnacknowledged == 0, "the delivery to return to the queue");
        Assert.Equal(0, back.Consumers);
        var again = Assert.Single(await _client.GetAsync(vhost, queue));
        Assert.True(again.Redelivered);
    }

    [Fact]
    public async Task Auto_ack_streams_remove_what_they_deliver()
    {
        var vhost = await _client.CreateVhostAsync();
        var queue = await QueueWithMessagesAsync(vhost, "gone");

        using var stream = await OpenAsync(vhost, queue, "?ackMode=auto");
        Assert.Equal("gone", (await stream.NextAsync()).Data.GetProperty("payload").GetString());

        await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, queue), q => q.Messages == 0, "the auto-acked message to leave");
    }

    [Fact]
    public async Task A_stream_respects_its_prefetch()
    {
        var vhost = await _client.CreateVhostAsync();
        var queue = await QueueWithMessagesAsync(vhost, "a", "b", "c");

        using var stream = await OpenAsync(vhost, queue, "?prefetch=2");
        var first = await stream.NextAsync();
        await stream.NextAsync();

        var held = await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, queue), q => q.MessagesUnacknowledged == 2, "two outstanding");
        Assert.Equal(1, held.MessagesReady);
        await _client.PostAsJsonAsync(Urls.Ack(vhost, queue), new { deliveryTags = new[] { first.Id } });
        Assert.Equal("c", (await stream.NextAsync()).Data.GetProperty("payload").GetString());
    }

    [Fact]
    public async Task Reconnecting_with_Last_Event_ID_starts_with_an_event_saying_what_happened_to_the_missed_deliveries()
    {
        var vhost = await _client.CreateVhostAsync();
        var queue = await QueueWithMessagesAsync(vhost, "again");
        string lastId;
        using (var stream = await OpenAsync(vhost, queue)) lastId = (await stream.NextAsync()).Id!;

        using var resumed = await OpenAsync(vhost, queue, lastEventId: lastId);
        var notice = await resumed.NextAsync();
        var redelivery = await resumed.NextAsync();

        Assert.Equal("resumed", notice.Name);
        Assert.Equal(lastId, notice.Data.GetProperty("lastEventId").GetString());
        Assert.Contains("cannot be replayed", notice.Data.GetProperty("detail").GetString());
        Assert.Equal("again", redelivery.Data.GetProperty("payload").GetString());
        Assert.True(redelivery.Data.GetProperty("redelivered").GetBoolean());
    }

    [Fact]
    public async Task Deleting_the_queue_ends_the_stream_with_a_cancelled_event()
    {
        var vhost = await _client.CreateVhostAsync();
        var queue = await QueueWithMessagesAsync(vhost);
        using var stream = await OpenAsync(vhost, queue);
        await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, queue), q => q.Consumers == 1, "the stream to subscribe");

        (await _client.DeleteAsync(Urls.Queue(vhost, queue))).EnsureSuccessStatusCode();

        var cancelled = await stream.NextAsync();
        Assert.Equal("cancelled", cancelled.Name);
        Assert.Equal("queue-deleted", cancelled.Data.GetProperty("reason").GetString());
    }

    [Theory]
    [InlineData("?ackMode=sometimes")]
    [InlineData("?prefetch=0")]
    [InlineData("?prefetch=10001")]
    public async Task Invalid_stream_options_answer_400(string query)
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");

        var response = await _client.GetAsync($"{Urls.Queue(vhost, "q")}/events{query}");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_stream_of_a_missing_queue_answers_404()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.GetAsync($"{Urls.Queue(vhost, "missing")}/events");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
    }

}

/// <summary>EventStreamTests on the embedded engine.</summary>
public sealed class EventStreamTests(GatewayFactory factory) : EventStreamTests<GatewayFactory>(factory)
{
    // Behaviour of the embedded engine that the RabbitMQ backend does not have (README, "Backends").

    [Fact]
    public async Task A_stream_delivers_a_priority_queue_by_priority_without_its_expired_messages()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q", new { arguments = new Dictionary<string, object> { ["x-max-priority"] = 10 } });
        await _client.PublishAsync(vhost, "amq.default", "q", "low", new { priority = 1 });
        await _client.PublishAsync(vhost, "amq.default", "q", "expired", new { priority = 9, expiration = "50" });
        await _client.PublishAsync(vhost, "amq.default", "q", "high", new { priority = 5 });
        await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, "q"), q => q.MessagesReady == 2, "the expired message to leave");

        using var stream = await OpenAsync(vhost, "q", "?ackMode=auto");
        var first = await stream.NextAsync();
        var second = await stream.NextAsync();

        Assert.Equal(["high", "low"], new[] { first, second }.Select(e => e.Data.GetProperty("payload").GetString()));
    }
}

/// <summary>EventStreamTests on the RabbitMQ backend.</summary>
public sealed class EventStreamTestsOnRabbitMq(RabbitMqGateway factory) : EventStreamTests<RabbitMqGateway>(factory);
