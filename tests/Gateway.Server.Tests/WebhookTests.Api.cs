using System.Net;
using System.Text.Json;

namespace Gateway.Server.Tests;

/// <summary>Managing webhooks: create, replace, pause, delete, redrive, listing with status, and refusals of bad input.</summary>
public abstract partial class WebhookTests<TFactory>
{
    [Fact]
    public async Task Put_creates_with_defaults_then_answers_200_for_the_same_or_a_changed_definition()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;

        var created = await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url });
        Assert.Equal(new ApiWebhookRetry(5_000, 36_000_000, 20, 259_200), created.Retry);
        Assert.Equal((1, 10_000, "raw", true, true, false), (created.Concurrency, created.TimeoutMilliseconds, created.Format, created.Enabled, created.Durable, created.HasSecret));
        Assert.Equal((vhost, "q", "hook", receiver.Url), (created.Vhost, created.Queue, created.Name, created.Url));

        var same = await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url }, HttpStatusCode.OK);
        Assert.Equal(created.Retry, same.Retry);
        var changed = await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, concurrency = 8, format = "json" }, HttpStatusCode.OK);
        Assert.Equal((8, "json"), (changed.Concurrency, changed.Format));

        var listed = await _client.SendOkAsync(HttpMethod.Get, WebhookApi.Webhooks(vhost, "q"), null, HttpStatusCode.OK);
        var list = JsonSerializer.Deserialize<List<ApiWebhook>>(await listed.Content.ReadAsStringAsync(), GatewayFactory.Json)!;
        Assert.Equal(8, Assert.Single(list).Concurrency);
    }

    [Fact]
    public async Task A_paused_webhook_leaves_messages_in_the_queue_until_it_is_enabled_again()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        var paused = await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, enabled = false });
        Assert.Equal("paused", paused.Status.State);

        await _client.PublishToQueueAsync(vhost, "q", "waiting");
        var queue = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((1, 0), (queue.MessagesReady, queue.Consumers));
        Assert.Equal(1, (await _client.GetWebhookAsync(vhost, "q", "hook")).Status.Backlog);

        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, enabled = true }, HttpStatusCode.OK);

        Assert.Equal("waiting", (await receiver.WaitForAsync(1))[0].Text);
        Assert.Equal("active", (await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Delivered == 1, "the delivery")).Status.State);
    }

    [Fact]
    public async Task A_deleted_webhook_stops_and_is_gone()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url });

        await _client.SendOkAsync(HttpMethod.Delete, WebhookApi.Webhook(vhost, "q", "hook"), null, HttpStatusCode.NoContent);
        await _client.PublishToQueueAsync(vhost, "q", "after delete");

        await ProblemAssert.IsProblemAsync(await _client.GetAsync(WebhookApi.Webhook(vhost, "q", "hook")), HttpStatusCode.NotFound, "not-found");
        await ProblemAssert.IsProblemAsync(await _client.DeleteAsync(WebhookApi.Webhook(vhost, "q", "hook")), HttpStatusCode.NotFound, "not-found");
        Assert.Equal((1, 0), ((await _client.GetQueueAsync(vhost, "q")).MessagesReady, (await _client.GetQueueAsync(vhost, "q")).Consumers));
        Assert.Empty(receiver.Requests);
    }

    [Fact]
    public async Task Deleting_the_queue_deletes_its_webhooks()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url });

        await _client.SendOkAsync(HttpMethod.Delete, Urls.Queue(vhost, "q"), null, HttpStatusCode.NoContent);
        await _client.DeclareQueueAsync(vhost, "q");

        var response = await _client.SendOkAsync(HttpMethod.Get, WebhookApi.Webhooks(vhost, "q"), null, HttpStatusCode.OK);
        Assert.Equal("[]", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Redrive_moves_messages_from_another_queue_into_the_webhooks_queue()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        await _client.DeclareQueueAsync(vhost, "parking");
        for (var i = 0; i < 3; i++) await _client.PublishToQueueAsync(vhost, "parking", $"parked-{i}");
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url });

        var response = await _client.SendOkAsync(HttpMethod.Post, WebhookApi.Webhook(vhost, "q", "hook") + "/redrive", new { from = "parking", max = 2 }, HttpStatusCode.OK);

        Assert.Equal("{\"moved\":2}", await response.Content.ReadAsStringAsync());
        var requests = await receiver.WaitForAsync(2);
        Assert.Equal(["parked-0", "parked-1"], requests.OrderBy(r => r.Index).Select(r => r.Text));
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "parking")).Messages);
        await ProblemAssert.IsProblemAsync(await _client.PostJsonAsync(WebhookApi.Webhook(vhost, "q", "hook") + "/redrive", new { from = "nowhere" }),
            HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Webhooks_of_a_missing_queue_or_vhost_answer_404()
    {
        var vhost = await _client.CreateVhostAsync("wh");
        var body = new { url = "https://example.com/hook" };

        await ProblemAssert.IsProblemAsync(await _client.PutJsonAsync(WebhookApi.Webhook(vhost, "missing", "hook"), body), HttpStatusCode.NotFound, "not-found");
        await ProblemAssert.IsProblemAsync(await _client.GetAsync(WebhookApi.Webhooks("no-such-vhost", "q")), HttpStatusCode.NotFound, "not-found");
        await _client.DeclareQueueAsync(vhost, "q");
        await ProblemAssert.IsProblemAsync(await _client.PostAsync(WebhookApi.Webhook(vhost, "q", "none") + "/enable", null), HttpStatusCode.NotFound, "not-found");
    }

    public static TheoryData<string, string> BadBodies => new()
    {
        { """{"url":"ftp://example.com/hook"}""", "url" },
        { """{"url":"/relative/path"}""", "url" },
        { """{"url":"not a url"}""", "url" },
        { """{"url":"https://user:pass@example.com/hook"}""", "url" },
        { """{"url":"https://example.com/hook","secret":"plain-text-secret"}""", "secret" },
        { """{"url":"https://example.com/hook","secret":"whsec_c2hvcnQ="}""", "secret" },
        { """{"url":"https://example.com/hook","secret":"whsec_###notbase64###"}""", "secret" },
        { """{"url":"https://example.com/hook","concurrency":-1}""", "concurrency" },
        { """{"url":"https://example.com/hook","concurrency":0}""", "concurrency" },
        { """{"url":"https://example.com/hook","concurrency":257}""", "concurrency" },
        { """{"url":"https://example.com/hook","timeoutMilliseconds":-5}""", "timeoutMilliseconds" },
        { """{"url":"https://example.com/hook","secretRotationGraceSeconds":-1}""", "secretRotationGraceSeconds" },
        { """{"url":"https://example.com/hook","retry":{"initialIntervalMilliseconds":-1}}""", "retry.initialIntervalMilliseconds" },
        { """{"url":"https://example.com/hook","retry":{"initialIntervalMilliseconds":1000,"maxIntervalMilliseconds":10}}""", "retry.maxIntervalMilliseconds" },
        { """{"url":"https://example.com/hook","retry":{"maxAttempts":0}}""", "retry.maxAttempts" },
        { """{"url":"https://example.com/hook","retry":{"maxAgeSeconds":-60}}""", "retry.maxAgeSeconds" },
        { """{"url":"https://example.com/hook","retry":{"maxAttempts":null,"maxAgeSeconds":null}}""", "retry" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_input_answers_a_400_problem_naming_the_field(string json, string field)
    {
        var vhost = await _client.CreateVhostAsync("wh");
        await _client.DeclareQueueAsync(vhost, "q");

        var response = await _client.SendRawJsonAsync(HttpMethod.Put, WebhookApi.Webhook(vhost, "q", "hook"), json);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "validation");
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"no error for '{field}': {problem}");
        await ProblemAssert.IsProblemAsync(await _client.GetAsync(WebhookApi.Webhook(vhost, "q", "hook")), HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("""{"url":"https://example.com/hook","format":"xml"}""")]
    [InlineData("""{"url":"https://example.com/hook","concurrency":"4"}""")]
    [InlineData("""{"url":"https://example.com/hook","callback":"typo"}""")]
    [InlineData("""{"secret":"whsec_AAAA"}""")]
    [InlineData("""{"url":null}""")]
    public async Task Malformed_bodies_answer_400(string json)
    {
        var vhost = await _client.CreateVhostAsync("wh");
        await _client.DeclareQueueAsync(vhost, "q");

        await ProblemAssert.IsProblemAsync(await _client.SendRawJsonAsync(HttpMethod.Put, WebhookApi.Webhook(vhost, "q", "hook"), json), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_webhook_name_with_a_control_character_answers_400()
    {
        var vhost = await _client.CreateVhostAsync("wh");
        await _client.DeclareQueueAsync(vhost, "q");

        var response = await _client.PutJsonAsync(WebhookApi.Webhook(vhost, "q", "bad\u0001name"), new { url = "https://example.com/" });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "bad-request");
    }

    [Fact]
    public async Task Redrive_refuses_a_bad_max_with_a_400()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url });

        var response = await _client.PostJsonAsync(WebhookApi.Webhook(vhost, "q", "hook") + "/redrive", new { from = "q", max = 0 });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "validation");
    }
}
