using System.Net;
using Gateway.Testing;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// Server-Sent Events (<c>GET /api/vhosts/{vhost}/queues/{queue}/events</c>) read by a real <see cref="HttpClient"/>
/// over TCP from the built server process, parsed as an EventSource parses them.
/// </summary>
public sealed class EventStreamProcessTests(LiveGateway gateway) : IClassFixture<LiveGateway>
{
    private const string Queue = "q";
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(10);

    /// <summary>An open stream with its own connection (as a browser's EventSource has).</summary>
    private sealed class OpenStream(HttpClient client, HttpResponseMessage response, EventStreamReader reader) : IDisposable
    {
        public HttpResponseMessage Response { get; } = response;
        public EventStreamReader Reader { get; } = reader;

        public Task<ServerSentEvent> NextAsync() => Reader.NextAsync(EventTimeout);

        public void Dispose()
        {
            Reader.Dispose();
            Response.Dispose();
            client.Dispose();
        }
    }

    private async Task<OpenStream> OpenAsync(GatewayApi api, string query = "", string? lastEventId = null)
    {
        var client = new HttpClient { BaseAddress = gateway.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(HttpMethod.Get, $"api/vhosts/{Uri.EscapeDataString(api.VhostName)}/queues/{Queue}/events{query}");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no-cache", response.Headers.CacheControl?.ToString());
        return new OpenStream(client, response, new EventStreamReader(await response.Content.ReadAsStreamAsync()));
    }

    [Fact]
    public async Task Deliveries_arrive_as_delivery_events_whose_id_is_the_tag_and_HTTP_acks_remove_them()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "one", "two");

        using var stream = await OpenAsync(api);
        var events = new[] { await stream.NextAsync(), await stream.NextAsync() };
        await api.AckAsync(Queue, events.Select(e => e.Id!).ToList());

        Assert.All(events, e => Assert.Equal("delivery", e.Name));
        Assert.Equal(["one", "two"], events.Select(e => e.Data.GetProperty("payload").GetString()));
        Assert.All(events, e => Assert.Equal(e.Id, e.Data.GetProperty("deliveryTag").GetString()));
        Assert.Equal(2, events.Select(e => e.Id).Distinct().Count());
        Assert.Equal("connected", stream.Reader.CommentLines.FirstOrDefault());
        await LiveGateway.WaitForAsync(() => api.GetQueueAsync(Queue), q => q.Messages == 0, "the acked messages to leave the queue");
    }

    [Fact]
    public async Task A_message_published_while_the_stream_is_open_arrives_as_an_event()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue);
        using var stream = await OpenAsync(api, "?ackMode=auto");
        await LiveGateway.WaitForAsync(() => api.GetQueueAsync(Queue), q => q.Consumers == 1, "the stream to subscribe");

        await api.PublishAsync("amq.default", new PublishEnvelope(Queue, "live"));
        var delivery = await stream.NextAsync();

        Assert.Equal(("delivery", "live"), (delivery.Name, delivery.Data.GetProperty("payload").GetString()));
        await LiveGateway.WaitForAsync(() => api.GetQueueAsync(Queue), q => q.Messages == 0, "the auto-acked message to leave the queue");
    }

    [Fact]
    public async Task A_quiet_stream_sends_heartbeat_comments()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue);
        using var stream = await OpenAsync(api);

        // The opening comment, then two heartbeats at Gateway:EventStream:HeartbeatSeconds (1 s here).
        await stream.Reader.WaitForCommentsAsync(3, TimeSpan.FromSeconds(LiveGateway.HeartbeatSeconds * 10));

        Assert.Equal(["connected", "heartbeat", "heartbeat"], stream.Reader.CommentLines.Take(3));
    }

    [Fact]
    public async Task Reconnecting_with_Last_Event_ID_starts_with_a_resumed_event_then_the_unacked_delivery_again()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "again");
        string lastId;
        using (var first = await OpenAsync(api)) lastId = (await first.NextAsync()).Id!;
        await LiveGateway.WaitForAsync(() => api.GetQueueAsync(Queue), q => q.MessagesReady == 1 && q.Consumers == 0,
            "the closed stream's delivery to be back in the queue");

        using var resumed = await OpenAsync(api, lastEventId: lastId);
        var notice = await resumed.NextAsync();
        var redelivery = await resumed.NextAsync();

        Assert.Equal(("resumed", null), (notice.Name, notice.Id));
        Assert.Equal(lastId, notice.Data.GetProperty("lastEventId").GetString());
        Assert.Contains("cannot be replayed", notice.Data.GetProperty("detail").GetString());
        Assert.Equal(("delivery", "again", true), (redelivery.Name, redelivery.Data.GetProperty("payload").GetString(),
            redelivery.Data.GetProperty("redelivered").GetBoolean()));
        Assert.NotEqual(lastId, redelivery.Id);
    }
}
