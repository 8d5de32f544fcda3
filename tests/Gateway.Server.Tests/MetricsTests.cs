using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Gateway.Server.Tests;

/// <summary>GET /metrics: Prometheus text whose values move with what the gateway does.</summary>
public sealed class MetricsTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    private readonly HttpClient _client = factory.CreateClient();

    private async Task<string> ScrapeAsync()
    {
        var response = await _client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The value of the series <paramref name="series"/> (name and labels exactly as exposed), or null.</summary>
    private static double? Value(string text, string series)
    {
        var match = Regex.Match(text, "^" + Regex.Escape(series) + @" (\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    private static double Sum(string text, string name) =>
        Regex.Matches(text, "^" + Regex.Escape(name) + @"(\{[^}]*\})? (\S+)$", RegexOptions.Multiline)
            .Sum(m => double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));

    [Fact]
    public async Task Queue_series_follow_publish_get_and_ack()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        var labels = $"{{vhost=\"{vhost}\",queue=\"q\"}}";
        for (var i = 0; i < 3; i++) await _client.PublishToQueueAsync(vhost, "q", "abcd");

        var before = await ScrapeAsync();
        Assert.Equal(3, Value(before, "gateway_queue_messages_ready" + labels));
        Assert.Equal(12, Value(before, "gateway_queue_message_bytes" + labels));
        Assert.Equal(3, Value(before, "gateway_queue_published_total" + labels));
        Assert.True(Value(before, "gateway_queue_oldest_ready_age_seconds" + labels) >= 0);

        var got = await _client.GetAsync(vhost, "q", new { max = 3 });
        await _client.PostJsonAsync(Urls.Ack(vhost, "q"), new { deliveryTags = got.Select(d => d.DeliveryTag) });
        var after = await ScrapeAsync();

        Assert.Equal(0, Value(after, "gateway_queue_messages_ready" + labels));
        Assert.Equal(3, Value(after, "gateway_queue_delivered_total" + labels));
        Assert.Equal(3, Value(after, "gateway_queue_acked_total" + labels));
        Assert.Null(Value(after, "gateway_queue_oldest_ready_age_seconds" + labels)); // no ready message: no series
    }

    [Fact]
    public async Task Exchange_counters_and_overview_gauges_move()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "fan", "fanout");
        await _client.DeclareQueueAsync(vhost, "a");
        await _client.DeclareQueueAsync(vhost, "b");
        await _client.BindAsync(vhost, "fan", "a");
        await _client.BindAsync(vhost, "fan", "b");
        var queuesBefore = Value(await ScrapeAsync(), "gateway_queues");

        await _client.PublishAsync(vhost, "fan", "", "m");
        await _client.DeclareQueueAsync(vhost, "c");
        var text = await ScrapeAsync();

        Assert.Equal(1, Value(text, $"gateway_exchange_published_in_total{{vhost=\"{vhost}\",exchange=\"fan\"}}"));
        Assert.Equal(2, Value(text, $"gateway_exchange_published_out_total{{vhost=\"{vhost}\",exchange=\"fan\"}}"));
        Assert.Equal(queuesBefore + 1, Value(text, "gateway_queues"));
        await Eventually.WaitForAsync(async () => Value(await ScrapeAsync(), "gateway_message_rate{kind=\"publish\"}"),
            rate => rate > 0, "the overview publish rate above 0");
    }

    [Fact]
    public async Task A_deleted_queue_leaves_no_series()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "gone");
        var series = $"gateway_queue_messages_ready{{vhost=\"{vhost}\",queue=\"gone\"}}";
        Assert.Equal(0, Value(await ScrapeAsync(), series));

        await _client.SendOkAsync(HttpMethod.Delete, Urls.Queue(vhost, "gone"), null, HttpStatusCode.NoContent);

        Assert.Null(Value(await ScrapeAsync(), series));
    }

    [Fact]
    public async Task Journal_commit_histograms_count_persistent_publishes()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "durable");
        var before = await ScrapeAsync();

        await _client.PublishAsync(vhost, "amq.default", "durable", "kept", properties: new { deliveryMode = 2 });

        // .NET meter measurements reach the registry through prometheus-net's adapter, shortly after they are made.
        string[] names = ["gateway_storage_journal_commit_operations_count", "gateway_storage_journal_commit_duration_count",
            "gateway_storage_journal_sync_duration_count", "gateway_storage_journal_commit_operations_sum"];
        await Eventually.WaitForAsync(ScrapeAsync, after => names.All(name => Sum(after, name) > Sum(before, name)),
            "the journal's commit count, duration, sync time and batch size to grow");
    }

    [Fact]
    public async Task HTTP_requests_are_measured_by_route()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");

        var text = await Eventually.WaitForAsync(ScrapeAsync, t => t.Contains("http_route=\"/api/vhosts/{vhost}/queues/{queue}\""),
            "the queue declaration in the HTTP request histogram");

        Assert.Contains("microsoft_aspnetcore_hosting_http_server_request_duration_count{http_request_method=\"PUT\",http_response_status_code=\"201\"," +
                        "http_route=\"/api/vhosts/{vhost}/queues/{queue}\"", text);
        Assert.Matches(new Regex(@"^microsoft_aspnetcore_hosting_http_server_active_requests\{.*\} \d+$", RegexOptions.Multiline), text);
    }

    [Fact]
    public async Task A_request_no_endpoint_answers_is_measured_without_a_route_and_marked_unhandled()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync("/no/such/page")).StatusCode);

        // The series' labels are the tags ASP.NET Core recorded, in alphabetical order: no http_route, and the flag
        // that no endpoint handled the request.
        await Eventually.WaitForAsync(ScrapeAsync, t => t.Contains(
                "microsoft_aspnetcore_hosting_http_server_request_duration_count{aspnetcore_request_is_unhandled=\"True\",http_request_method=\"GET\"," +
                "http_response_status_code=\"404\",network_protocol_version=\"1.1\",url_scheme=\"http\"}"),
            "the unhandled 404 in the HTTP request histogram");
    }

    [Fact]
    public async Task WebSocket_connections_are_counted_while_open()
    {
        var vhost = await _client.CreateVhostAsync();
        var before = await ScrapeAsync();
        var opened = Value(before, "gateway_websocket_connections_opened_total")!.Value;

        await using (var socket = await TestServerSockets.ConnectAsync(factory, vhost))
        {
            // The client's connect completes with the upgrade; the server counts the socket just after accepting it.
            var open = await Eventually.WaitForAsync(ScrapeAsync,
                text => Value(text, "gateway_websocket_connections_opened_total") > opened, "the accepted WebSocket to be counted");
            Assert.Equal(opened + 1, Value(open, "gateway_websocket_connections_opened_total"));
            Assert.True(Value(open, "gateway_websocket_connections") >= 1);
        }

        await Eventually.WaitForAsync(async () => Value(await ScrapeAsync(), "gateway_websocket_connections"),
            open => open == Value(before, "gateway_websocket_connections"), "the WebSocket gauge to fall back once the socket closed");
    }
}
