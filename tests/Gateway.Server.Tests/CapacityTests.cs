using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Gateway.Server.Capacity;
using Gateway.Server.Security;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>Header, prefetch and long-poll limits set low (authentication off: they apply to everyone).</summary>
public sealed class SmallLimitsGateway : GatewayFactory
{
    public const int MaxHeaders = 4;
    public const int MaxHeaderBytes = 256;
    public const int MaxPrefetch = 50;

    public SmallLimitsGateway()
    {
        Settings["Gateway:Limits:MaxHeaders"] = MaxHeaders.ToString(CultureInfo.InvariantCulture);
        Settings["Gateway:Limits:MaxHeaderBytes"] = MaxHeaderBytes.ToString(CultureInfo.InvariantCulture);
        Settings["Gateway:Limits:MaxPrefetch"] = MaxPrefetch.ToString(CultureInfo.InvariantCulture);
    }
}

/// <summary>Message header limits on every publish path, and the prefetch limit of WebSockets and event streams.</summary>
public sealed class MessageLimitTests(SmallLimitsGateway gateway) : IClassFixture<SmallLimitsGateway>
{
    private readonly HttpClient _client = gateway.CreateClient();

    private static Dictionary<string, object> Headers(int count) => Enumerable.Range(0, count).ToDictionary(i => $"h{i}", object (i) => i);

    private static readonly Dictionary<string, object> BigHeaders = new() { ["big"] = new string('b', SmallLimitsGateway.MaxHeaderBytes) };

    private async Task<string> VhostWithQueueAsync()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        return vhost;
    }

    private async Task AssertNothingPublishedAsync(string vhost) => Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);

    [Fact]
    public async Task A_message_with_as_many_headers_as_allowed_is_published()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"),
            new { routingKey = "q", payload = "m", properties = new { headers = Headers(SmallLimitsGateway.MaxHeaders) } });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Too_many_headers_answer_400_naming_the_limit()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"),
            new { routingKey = "q", payload = "m", properties = new { headers = Headers(SmallLimitsGateway.MaxHeaders + 1) } });

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("Gateway:Limits:MaxHeaders", problem.Detail());
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task Headers_over_the_size_limit_answer_400_naming_it_nested_tables_included()
    {
        var vhost = await VhostWithQueueAsync();

        var flat = await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"), new { routingKey = "q", payload = "m", properties = new { headers = BigHeaders } });
        var nested = await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"),
            new { routingKey = "q", payload = "m", properties = new { headers = new { outer = new { list = new[] { BigHeaders } } } } });

        Assert.Contains("Gateway:Limits:MaxHeaderBytes", (await ProblemAssert.IsProblemAsync(flat, HttpStatusCode.BadRequest)).Detail());
        Assert.Contains("Gateway:Limits:MaxHeaderBytes", (await ProblemAssert.IsProblemAsync(nested, HttpStatusCode.BadRequest)).Detail());
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_batch_with_one_message_over_the_header_limits_publishes_nothing()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "amq.default"), new
        {
            messages = new object[]
            {
                new { routingKey = "q", payload = "fine" },
                new { routingKey = "q", payload = "m", properties = new { headers = Headers(SmallLimitsGateway.MaxHeaders + 1) } },
            },
        });

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("messages[1].properties.headers", out _), problem.GetRawText());
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_raw_publish_with_too_many_or_too_large_headers_answers_400()
    {
        var vhost = await VhostWithQueueAsync();
        var tooMany = new HttpRequestMessage(HttpMethod.Post, Urls.PublishRaw(vhost, "amq.default", "q")) { Content = new ByteArrayContent([1]) };
        for (var i = 0; i <= SmallLimitsGateway.MaxHeaders; i++) tooMany.Headers.Add($"Amqp-Header-h{i}", "v");
        var tooLarge = new HttpRequestMessage(HttpMethod.Post, Urls.PublishRaw(vhost, "amq.default", "q")) { Content = new ByteArrayContent([1]) };
        tooLarge.Headers.Add("Amqp-Header-big", new string('b', SmallLimitsGateway.MaxHeaderBytes));

        var countProblem = await ProblemAssert.IsProblemAsync(await _client.SendAsync(tooMany), HttpStatusCode.BadRequest);
        var sizeProblem = await ProblemAssert.IsProblemAsync(await _client.SendAsync(tooLarge), HttpStatusCode.BadRequest);

        Assert.Contains("Gateway:Limits:MaxHeaders", countProblem.Detail());
        Assert.Contains("Gateway:Limits:MaxHeaderBytes", sizeProblem.Detail());
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_WebSocket_publish_over_the_header_limits_answers_an_error_frame()
    {
        var vhost = await VhostWithQueueAsync();
        await using var socket = await TestServerSockets.ConnectAsync(gateway, vhost);

        var count = await socket.RequestAsync(new { type = "publish", id = "1", routingKey = "q", payload = "m", properties = new { headers = Headers(SmallLimitsGateway.MaxHeaders + 1) } });
        var size = await socket.RequestAsync(new { type = "publish", id = "2", routingKey = "q", payload = "m", properties = new { headers = BigHeaders } });

        count.IsError(400, "1");
        size.IsError(400, "2");
        Assert.Contains("MaxHeaders", count.Str("detail"));
        Assert.Contains("MaxHeaderBytes", size.Str("detail"));
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_WebSocket_prefetch_above_the_limit_is_refused_naming_it()
    {
        var vhost = await VhostWithQueueAsync();
        await using var socket = await TestServerSockets.ConnectAsync(gateway, vhost);

        var refused = await socket.RequestAsync(new { type = "subscribe", id = "big", queue = "q", prefetch = SmallLimitsGateway.MaxPrefetch + 1 });
        var accepted = await socket.RequestAsync(new { type = "subscribe", id = "max", queue = "q", prefetch = SmallLimitsGateway.MaxPrefetch });
        var defaulted = await socket.RequestAsync(new { type = "subscribe", id = "default", queue = "q" });

        refused.IsError(400, "big");
        Assert.Contains("Gateway:Limits:MaxPrefetch", refused.Str("detail"));
        Assert.Equal("subscribed", accepted.Type());
        Assert.Equal("subscribed", defaulted.Type()); // the default (100) is capped at the limit
    }

    [Fact]
    public async Task An_event_stream_prefetch_above_the_limit_is_refused_naming_it()
    {
        var vhost = await VhostWithQueueAsync();

        var refused = await _client.GetAsync($"{Urls.Queue(vhost, "q")}/events?prefetch={SmallLimitsGateway.MaxPrefetch + 1}", HttpCompletionOption.ResponseHeadersRead);
        using var defaulted = await SseStream.OpenAsync(_client, $"{Urls.Queue(vhost, "q")}/events");

        var problem = await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.BadRequest);
        Assert.Contains("Gateway:Limits:MaxPrefetch", problem.Detail());
    }
}

/// <summary>At most two WebSockets and event streams per user.</summary>
public sealed class ConnectionLimitGateway : SecuredGateway
{
    public const int MaxConnections = 2;

    public ConnectionLimitGateway() => Settings["Gateway:Limits:MaxConnectionsPerUser"] = MaxConnections.ToString(CultureInfo.InvariantCulture);
}

public sealed class ConnectionLimitTests(ConnectionLimitGateway gateway) : IClassFixture<ConnectionLimitGateway>
{
    private readonly HttpClient _admin = gateway.CreateAdminClient();

    private string Events(string vhost) => $"{Urls.Queue(vhost, "q")}/events";

    [Fact]
    public async Task A_user_holding_the_most_connections_gets_429_with_Retry_After_and_others_are_not_affected()
    {
        var (vhost, user) = await TestUser.InNewVhostAsync(gateway, _admin, (".*", ".*", ".*"));
        var other = await TestUser.CreateAsync(gateway, _admin);
        await _admin.SetPermissionAsync(vhost, other.Name, ".*", ".*", ".*");
        await _admin.DeclareQueueAsync(vhost, "q");
        var slots = gateway.Service<ConnectionSlots>();

        await using var socket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key);
        using var stream = await SseStream.OpenAsync(user.Client, Events(vhost));
        Assert.Equal(2, slots.OpenFor("user:" + user.Name));

        var socketStatus = await TestServerSockets.RefusedStatusAsync(() => TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key));
        var streamRefusal = await user.Client.GetAsync(Events(vhost), HttpCompletionOption.ResponseHeadersRead);
        await using var othersSocket = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, other.Key);

        Assert.Equal(429, socketStatus);
        var problem = await ProblemAssert.IsProblemAsync(streamRefusal, HttpStatusCode.TooManyRequests, "too-many-connections");
        Assert.Contains("Gateway:Limits:MaxConnectionsPerUser", problem.Detail());
        Assert.Equal(TimeSpan.FromSeconds(ConnectionSlots.RetryAfterSeconds), streamRefusal.Headers.RetryAfter?.Delta);
        await othersSocket.PingAsync();
        Assert.Equal(1, (await _admin.GetQueueAsync(vhost, "q")).Consumers); // the refused stream never subscribed
    }

    [Fact]
    public async Task Closing_a_connection_gives_its_place_back()
    {
        var (vhost, user) = await TestUser.InNewVhostAsync(gateway, _admin, (".*", ".*", ".*"));
        await _admin.DeclareQueueAsync(vhost, "q");
        var slots = gateway.Service<ConnectionSlots>();
        var first = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key);
        await using var second = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key);
        Assert.Equal(429, await TestServerSockets.RefusedStatusAsync(() => TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key)));

        await first.CloseAsync();
        await first.DisposeAsync();
        await Eventually.WaitForAsync(() => Task.FromResult(slots.OpenFor("user:" + user.Name)), n => n == 1, "the closed socket's place to be given back");

        await using var third = await TestServerSockets.ConnectWithKeyAsync(gateway, vhost, user.Key);
        await third.PingAsync();
    }
}

/// <summary>One request per second per user, bursts of five.</summary>
public sealed class RateLimitGateway : SecuredGateway
{
    public const int Burst = 5;

    public RateLimitGateway()
    {
        Settings["Gateway:Limits:RequestsPerSecondPerUser"] = "1";
        Settings["Gateway:Limits:RequestBurstPerUser"] = Burst.ToString(CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// The request rate per user. Users and keys are made through the directory, not the API, so that arranging a test
/// spends no requests of the administrator's bucket.
/// </summary>
public sealed class RateLimitTests(RateLimitGateway gateway) : IClassFixture<RateLimitGateway>
{
    private HttpClient NewUser()
    {
        var directory = gateway.Service<UserDirectory>();
        var name = $"u-{Guid.NewGuid():N}";
        directory.PutUser(name, []);
        return gateway.CreateClientWithKey(directory.CreateKey(name, null, null).Text);
    }

    // Sends until the first 429 (at most 60 requests): a burst passes first, then the bucket is empty.
    private static async Task<(int Passed, HttpResponseMessage Refusal)> UntilRefusedAsync(HttpClient client, HttpStatusCode passing)
    {
        for (var i = 0; i < 60; i++)
        {
            var response = await client.GetAsync(SecurityUrls.WhoAmI);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) return (i, response);
            Assert.Equal(passing, response.StatusCode);
        }
        Assert.Fail("No request was refused.");
        throw new InvalidOperationException();
    }

    [Fact]
    public async Task A_user_beyond_its_rate_gets_429_with_Retry_After_and_a_problem_and_another_user_does_not()
    {
        using var user = NewUser();
        using var other = NewUser();

        var (passed, refusal) = await UntilRefusedAsync(user, HttpStatusCode.OK);
        var othersAnswer = await other.GetAsync(SecurityUrls.WhoAmI);

        Assert.True(passed >= RateLimitGateway.Burst, $"Refused after {passed} requests, before the burst of {RateLimitGateway.Burst} was spent.");
        var problem = await ProblemAssert.IsProblemAsync(refusal, HttpStatusCode.TooManyRequests, "too-many-requests");
        Assert.Contains("Gateway:Limits:RequestsPerSecondPerUser", problem.Detail());
        Assert.True(refusal.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {refusal.Headers.RetryAfter}");
        Assert.Equal(HttpStatusCode.OK, othersAnswer.StatusCode);
    }

    [Fact]
    public async Task The_bucket_refills_at_the_rate()
    {
        using var user = NewUser();
        var (_, refusal) = await UntilRefusedAsync(user, HttpStatusCode.OK);
        var retryAfter = refusal.Headers.RetryAfter!.Delta!.Value;
        var refusedAt = DateTimeOffset.UtcNow;

        var answer = await Eventually.WaitForAsync(() => user.GetAsync(SecurityUrls.WhoAmI), r => r.StatusCode == HttpStatusCode.OK,
            "a token to be replenished");

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.True(DateTimeOffset.UtcNow - refusedAt <= retryAfter + TimeSpan.FromSeconds(2), "The bucket refilled later than Retry-After said.");
    }

    [Fact]
    public async Task Requests_without_a_valid_key_are_limited_by_address()
    {
        using var anonymous = gateway.CreateClient();
        anonymous.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer guessed-key-guessed-key-guessed-key");

        var (passed, refusal) = await UntilRefusedAsync(anonymous, HttpStatusCode.Unauthorized);

        Assert.True(passed >= RateLimitGateway.Burst);
        await ProblemAssert.IsProblemAsync(refusal, HttpStatusCode.TooManyRequests, "too-many-requests");
    }

    [Fact]
    public async Task Health_checks_are_never_limited()
    {
        using var anonymous = gateway.CreateClient();

        for (var i = 0; i < RateLimitGateway.Burst * 3; i++)
            Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(i % 2 == 0 ? "/healthz" : "/readyz")).StatusCode);
    }
}

/// <summary>At most one waiting long poll.</summary>
public sealed class OneWaiterGateway : GatewayFactory
{
    public OneWaiterGateway() => Settings["Gateway:Limits:MaxLongPollWaiters"] = "1";
}

public sealed class LongPollWaiterTests(OneWaiterGateway gateway) : IClassFixture<OneWaiterGateway>
{
    private readonly HttpClient _client = gateway.CreateClient();

    [Fact]
    public async Task Beyond_the_most_waiting_polls_a_poll_answers_what_is_ready_or_503_with_Retry_After()
    {
        var vhost = await _client.CreateVhostAsync();
        foreach (var queue in new[] { "waited", "empty", "ready" }) await _client.DeclareQueueAsync(vhost, queue);
        await _client.PublishToQueueAsync(vhost, "ready", "here");
        var waiters = gateway.Service<LongPollWaiters>();

        var waiting = _client.PostJsonAsync(Urls.Get(vhost, "waited"), new { waitSeconds = 60, ackMode = "auto" });
        await Eventually.WaitForAsync(() => Task.FromResult(waiters.Waiting), n => n == 1, "the first poll to wait");

        var refused = await _client.PostJsonAsync(Urls.Get(vhost, "empty"), new { waitSeconds = 30 });
        var refusedRaw = await _client.PostAsync(Urls.Next(vhost, "empty") + "?wait=30", content: null);
        var ready = await _client.PostJsonAsync(Urls.Get(vhost, "ready"), new { waitSeconds = 30, ackMode = "auto" });
        var notWaiting = await _client.PostJsonAsync(Urls.Get(vhost, "empty"), new { waitSeconds = 0 });

        var problem = await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.ServiceUnavailable, "too-many-waiters");
        Assert.Contains("Gateway:Limits:MaxLongPollWaiters", problem.Detail());
        Assert.Equal(TimeSpan.FromSeconds(LongPollWaiters.RetryAfterSeconds), refused.Headers.RetryAfter?.Delta);
        await ProblemAssert.IsProblemAsync(refusedRaw, HttpStatusCode.ServiceUnavailable, "too-many-waiters");
        Assert.Equal("here", Assert.Single((await ready.Content.ReadFromJsonAsync<List<ApiDelivery>>(GatewayFactory.Json))!).Payload);
        Assert.Empty((await notWaiting.Content.ReadFromJsonAsync<List<ApiDelivery>>(GatewayFactory.Json))!);

        // The waiting poll is answered by a publish; its place is free again.
        await _client.PublishToQueueAsync(vhost, "waited", "done");
        Assert.Equal("done", Assert.Single((await (await waiting).Content.ReadFromJsonAsync<List<ApiDelivery>>(GatewayFactory.Json))!).Payload);
        await Eventually.WaitForAsync(() => Task.FromResult(waiters.Waiting), n => n == 0, "the place to be given back");
        var waitsAgain = _client.PostJsonAsync(Urls.Get(vhost, "empty"), new { waitSeconds = 30, ackMode = "auto" });
        await Eventually.WaitForAsync(() => Task.FromResult(waiters.Waiting), n => n == 1, "the next poll to wait");
        await _client.PublishToQueueAsync(vhost, "empty", "late");
        Assert.Equal("late", Assert.Single((await (await waitsAgain).Content.ReadFromJsonAsync<List<ApiDelivery>>(GatewayFactory.Json))!).Payload);
    }
}

/// <summary>A Gateway whose memory sampler stays out of the way (one sample at start): the tests stand for samples.</summary>
public sealed class MemoryAlarmGateway : GatewayFactory
{
    public MemoryAlarmGateway() => Settings["Gateway:Limits:MemorySampleMilliseconds"] = "3600000";
}

/// <summary>
/// The memory alarm: while raised every publish path answers 503 with Retry-After and consumers keep draining;
/// /readyz reports it. The tests raise and clear it by handing the alarm samples (the timer's own sampling is tested
/// with the real process in Gateway.EndToEnd.Tests).
/// </summary>
public sealed class MemoryAlarmTests(MemoryAlarmGateway gateway) : IClassFixture<MemoryAlarmGateway>
{
    private readonly HttpClient _client = gateway.CreateClient();
    private readonly MemoryAlarm _alarm = gateway.Service<MemoryAlarm>();

    private async Task WhileRaisedAsync(Func<Task> test)
    {
        _alarm.Observe(_alarm.Watermark + 1);
        try
        {
            Assert.True(_alarm.IsRaised);
            await test();
        }
        finally
        {
            _alarm.Observe(0);
        }
    }

    private static async Task IsMemoryAlarmAsync(HttpResponseMessage response)
    {
        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.ServiceUnavailable, "memory-alarm");
        Assert.Contains("Gateway:Limits:MemoryHighWatermarkBytes", problem.Detail());
        Assert.Equal(TimeSpan.FromSeconds(MemoryAlarm.RetryAfterSeconds), response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task Every_publish_path_answers_503_while_the_alarm_is_raised_and_publishes_nothing()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        await using var socket = await TestServerSockets.ConnectAsync(gateway, vhost);

        await WhileRaisedAsync(async () =>
        {
            await IsMemoryAlarmAsync(await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"), new { routingKey = "q", payload = "m" }));
            await IsMemoryAlarmAsync(await _client.PostJsonAsync(Urls.PublishBatch(vhost, "amq.default"), new { messages = new[] { new { routingKey = "q", payload = "m" } } }));
            await IsMemoryAlarmAsync(await _client.PostAsync(Urls.PublishRaw(vhost, "amq.default", "q"), new ByteArrayContent([1])));
            var frame = await socket.RequestAsync(new { type = "publish", id = "p", routingKey = "q", payload = "m" });
            frame.IsError(503, "p");
            Assert.Contains("Memory alarm", frame.Str("detail"));
            Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
        });
    }

    [Fact]
    public async Task Consumers_keep_draining_while_the_alarm_is_raised()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        for (var i = 0; i < 4; i++) await _client.PublishToQueueAsync(vhost, "q", $"m{i}");
        await using var socket = await TestServerSockets.ConnectAsync(gateway, vhost);

        await WhileRaisedAsync(async () =>
        {
            var pulled = await _client.GetAsync(vhost, "q", new { max = 2, ackMode = "auto" });
            Assert.Equal(["m0", "m1"], pulled.Select(d => d.Payload));
            Assert.Equal("subscribed", (await socket.RequestAsync(new { type = "subscribe", id = "s", queue = "q", ackMode = "auto" })).Type());
            Assert.Equal(["m2", "m3"], (await socket.DeliveriesAsync(2)).Select(d => d.Str("payload")));
            await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, "q"), q => q.Messages == 0, "the queue to be drained");
        });
    }

    [Fact]
    public async Task Readyz_reports_the_alarm_and_publishing_resumes_when_it_clears()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");

        await WhileRaisedAsync(async () =>
        {
            var ready = await _client.GetAsync("/readyz");
            var text = await ready.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode); // degraded, not down: consumers must keep coming
            using var report = System.Text.Json.JsonDocument.Parse(text);
            Assert.Equal("Degraded", report.RootElement.GetProperty("status").GetString());
            Assert.Equal("Degraded", report.RootElement.GetProperty("checks").GetProperty("memory").GetProperty("status").GetString());
            Assert.Contains("memory alarm", text, StringComparison.OrdinalIgnoreCase);
        });

        Assert.False(_alarm.IsRaised);
        using var healthy = System.Text.Json.JsonDocument.Parse(await _client.GetStringAsync("/readyz"));
        Assert.Equal("Healthy", healthy.RootElement.GetProperty("status").GetString());
        Assert.True((await _client.PublishToQueueAsync(vhost, "q", "after")).Routed);
    }

    [Fact]
    public void The_default_watermark_is_four_tenths_of_the_memory_available()
    {
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

        Assert.Equal((long)(available * 0.4), _alarm.Watermark);
    }
}
