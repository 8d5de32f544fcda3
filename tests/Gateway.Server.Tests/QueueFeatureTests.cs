using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>The publish paths a message can take into the gateway.</summary>
public enum PublishPath
{
    /// <summary>POST …/publish (JSON envelope).</summary>
    Single,
    /// <summary>POST …/publish/batch, one message.</summary>
    Batch,
    /// <summary>POST …/publish/batch with atomic=true, one message.</summary>
    AtomicBatch,
    /// <summary>POST …/messages (raw body).</summary>
    Raw,
    /// <summary>A publish frame on the WebSocket.</summary>
    WebSocket,
}

/// <summary>
/// RabbitMQ's queue arguments (issue 5) through the HTTP API and the WebSocket: TTLs, length limits and overflow,
/// dead-lettering and x-death, priorities, delivery limits, single active consumer, delayed delivery, queue expiry,
/// atomic batches, alternate exchanges with mandatory. The server runs on the system clock, so TTLs and delays are
/// short and every test waits for a condition (the queue's counts) with a deadline, never for a fixed time.
/// </summary>
public sealed partial class QueueFeatureTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    /// <summary>A TTL or delay that passes during the test: short, so the test is quick.</summary>
    private const int Short = 50;

    /// <summary>A TTL or delay that does not pass during the test.</summary>
    private const int Long = 600_000;

    private readonly HttpClient _client = factory.CreateClient();

    private Task<string> VhostAsync() => _client.CreateVhostAsync("qf");

    /// <summary>Declares a durable queue with these x- arguments (201 asserted).</summary>
    private Task DeclareAsync(string vhost, string queue, object? arguments = null) =>
        _client.DeclareQueueAsync(vhost, queue, arguments is null ? new { } : new { arguments });

    private static Dictionary<string, object> Args(params (string Key, object Value)[] entries) =>
        entries.ToDictionary(e => e.Key, e => e.Value);

    /// <summary>Publishes to the default exchange with properties (200 asserted) and returns the confirm.</summary>
    private Task<ApiPublishResult> PublishAsync(string vhost, string queue, string payload, object? properties = null) =>
        _client.PublishAsync(vhost, "amq.default", queue, payload, properties);

    /// <summary>Takes everything ready with auto-ack (one get of up to 1000), in delivery order.</summary>
    private Task<List<ApiDelivery>> TakeAllAsync(string vhost, string queue) =>
        _client.GetAsync(vhost, queue, new { max = 1000, ackMode = "auto" });

    private async Task<List<string>> PayloadsAsync(string vhost, string queue) =>
        (await TakeAllAsync(vhost, queue)).Select(d => d.Payload).ToList();

    /// <summary>Polls the queue until <paramref name="condition"/> holds (the server's timers act on their own).</summary>
    private Task<ApiQueue> WaitForQueueAsync(string vhost, string queue, Func<ApiQueue, bool> condition, string what) =>
        Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, queue), condition, $"queue '{queue}' {what}");

    private Task<ApiQueue> WaitForReadyAsync(string vhost, string queue, int ready) =>
        WaitForQueueAsync(vhost, queue, q => q.MessagesReady == ready, $"to hold {ready} ready message(s)");

    /// <summary>A fanout exchange <paramref name="exchange"/> bound to a new queue <paramref name="queue"/> (a dead-letter target).</summary>
    private async Task FanoutToAsync(string vhost, string exchange, string queue)
    {
        await _client.DeclareExchangeAsync(vhost, exchange, "fanout");
        await DeclareAsync(vhost, queue);
        await _client.BindAsync(vhost, exchange, queue);
    }

    private static JsonElement Headers(ApiDelivery delivery)
    {
        Assert.True(delivery.Properties.TryGetProperty("headers", out var headers) && headers.ValueKind == JsonValueKind.Object,
            $"The delivery has no headers: {delivery.Properties.GetRawText()}");
        return headers;
    }

    /// <summary>The delivery's x-death tables, most recent first.</summary>
    private static List<JsonElement> Deaths(ApiDelivery delivery)
    {
        var headers = Headers(delivery);
        Assert.True(headers.TryGetProperty("x-death", out var deaths) && deaths.ValueKind == JsonValueKind.Array,
            $"No x-death array in {headers.GetRawText()}");
        return deaths.EnumerateArray().ToList();
    }

    /// <summary>Asserts one x-death table as RabbitMQ writes it.</summary>
    private static void IsDeath(JsonElement death, string queue, string reason, long count, string exchange, string[] routingKeys)
    {
        var raw = death.GetRawText();
        Assert.True(death.GetProperty("queue").GetString() == queue, $"x-death queue should be '{queue}': {raw}");
        Assert.True(death.GetProperty("reason").GetString() == reason, $"x-death reason should be '{reason}': {raw}");
        Assert.True(death.GetProperty("count").ValueKind == JsonValueKind.Number && death.GetProperty("count").GetInt64() == count,
            $"x-death count should be {count}: {raw}");
        Assert.True(death.GetProperty("exchange").GetString() == exchange, $"x-death exchange should be '{exchange}': {raw}");
        Assert.Equal(routingKeys, death.GetProperty("routing-keys").EnumerateArray().Select(k => k.GetString()!).ToArray());
        var time = death.GetProperty("time");
        Assert.True(time.ValueKind == JsonValueKind.Number, $"x-death time should be a number (seconds since the epoch): {raw}");
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Assert.InRange(time.GetInt64(), now - 120, now + 1);
    }

    private static void HasFirstDeath(ApiDelivery delivery, string queue, string reason, string exchange)
    {
        var headers = Headers(delivery);
        Assert.Equal(reason, headers.GetProperty("x-first-death-reason").GetString());
        Assert.Equal(queue, headers.GetProperty("x-first-death-queue").GetString());
        Assert.Equal(exchange, headers.GetProperty("x-first-death-exchange").GetString());
    }

    // ------------------------------------------------------------------ the publish paths

    /// <summary>What a publish path answered, in one shape: the HTTP status (or the WebSocket error status, 200 for a confirm).</summary>
    private sealed record PathAnswer(HttpStatusCode Status, ApiPublishResult? Result, string? ProblemType, string? Detail);

    /// <summary>Publishes one text message over <paramref name="path"/>.</summary>
    private async Task<PathAnswer> PublishViaAsync(PublishPath path, string vhost, string exchange, string routingKey, string payload,
        bool mandatory = false)
    {
        switch (path)
        {
            case PublishPath.Single:
                return await AnswerAsync(await _client.PostJsonAsync(Urls.Publish(vhost, exchange), new { routingKey, payload, mandatory }), batch: false);
            case PublishPath.Batch:
            case PublishPath.AtomicBatch:
                return await AnswerAsync(await _client.PostJsonAsync(Urls.PublishBatch(vhost, exchange),
                    new { messages = new[] { new { routingKey, payload, mandatory } }, atomic = path == PublishPath.AtomicBatch }), batch: true);
            case PublishPath.Raw:
                using (var request = new HttpRequestMessage(HttpMethod.Post, Urls.PublishRaw(vhost, exchange, routingKey) + $"&mandatory={(mandatory ? "true" : "false")}"))
                {
                    request.Content = new StringContent(payload);
                    request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("text/plain");
                    return await AnswerAsync(await _client.SendAsync(request), batch: false);
                }
            default:
                await using (var socket = await TestServerSockets.ConnectAsync(factory, vhost))
                {
                    var answer = await socket.RequestAsync(new { type = "publish", id = "p1", exchange, routingKey, payload, mandatory });
                    Assert.Equal("p1", answer.Str("id"));
                    if (answer.Type() == "confirm")
                        return new PathAnswer(HttpStatusCode.OK,
                            new ApiPublishResult(answer.GetProperty("routed").GetBoolean(), answer.GetProperty("queues").GetInt32(), Returned: false), null, null);
                    answer.IsError(answer.GetProperty("status").GetInt32(), "p1");
                    return new PathAnswer((HttpStatusCode)answer.GetProperty("status").GetInt32(), null, null, answer.Str("detail"));
                }
        }
    }

    private static async Task<PathAnswer> AnswerAsync(HttpResponseMessage response, bool batch)
    {
        if (response.StatusCode == HttpStatusCode.OK)
        {
            var result = batch
                ? Assert.Single((await response.Content.ReadFromJsonAsync<ApiBatchResult>(GatewayFactory.Json))!.Results)
                : (await response.Content.ReadFromJsonAsync<ApiPublishResult>(GatewayFactory.Json))!;
            return new PathAnswer(HttpStatusCode.OK, result, null, null);
        }
        var problem = await ProblemAssert.IsProblemAsync(response, response.StatusCode);
        return new PathAnswer(response.StatusCode, null, problem.GetProperty("type").GetString(), problem.Detail());
    }
}
