using Gateway.Testing;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Gateway.Server.Tests;

/// <summary>What each kind of failure does: retries with backoff, Retry-After, rejection, 410, timeouts, an endpoint that is down.</summary>
public abstract partial class WebhookTests<TFactory>
{
    private static Func<ReceivedRequest, HttpContext, Task> Answer(Func<ReceivedRequest, int> status) => (request, http) =>
    {
        http.Response.StatusCode = status(request);
        return Task.CompletedTask;
    };

    [Fact]
    public async Task Server_errors_are_retried_with_the_same_id_until_a_2xx()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        receiver.Respond = Answer(r => r.Index <= 3 ? 503 : 200);
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, retry = WebhookApi.FastRetry });

        await _client.PublishToQueueAsync(vhost, "q", "flaky");

        var requests = await receiver.WaitForAsync(4);
        Assert.Single(requests.Select(r => r.Header("webhook-id")).Distinct());
        Assert.Equal(["1", "2", "3", "4"], requests.OrderBy(r => r.Index).Select(r => r.Header("webhook-attempt")));
        var webhook = await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Delivered == 1, "the delivery after 3 retries");
        Assert.Equal(3, webhook.Status.Retried);
        Assert.Equal(0, webhook.Status.Failed);
        Assert.Equal([1, 2, 3], webhook.Status.RecentFailures.Select(f => f.Attempt));
        Assert.All(webhook.Status.RecentFailures, f => Assert.Equal((503, "retry"), (f.Status!.Value, f.Outcome)));
        Assert.StartsWith("HTTP 503", webhook.Status.LastError);
        await _client.WaitForQueueAsync(vhost, "q", q => q.Messages == 0, "the queue emptied");
    }

    [Fact]
    public async Task Retry_after_sets_the_least_wait_before_the_next_attempt()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        receiver.Respond = (request, http) =>
        {
            http.Response.StatusCode = request.Index == 1 ? 429 : 204;
            if (request.Index == 1) http.Response.Headers.RetryAfter = "1";
            return Task.CompletedTask;
        };
        // Without Retry-After the next attempt would come within a millisecond.
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, retry = new { initialIntervalMilliseconds = 1, maxIntervalMilliseconds = 1, maxAttempts = 3 } });

        await _client.PublishToQueueAsync(vhost, "q", "rate limited");

        var requests = (await receiver.WaitForAsync(2)).OrderBy(r => r.Index).ToList();
        var gap = requests[1].At - requests[0].At;
        Assert.True(gap >= TimeSpan.FromMilliseconds(950), $"the second attempt came {gap.TotalMilliseconds:0} ms after a Retry-After of 1 s");
        await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Delivered == 1, "the delivery");
    }

    [Fact]
    public async Task The_backoff_ceiling_doubles_from_the_initial_interval()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        receiver.Respond = Answer(_ => 500);
        // Full jitter waits a random time up to the ceiling: 200 ms, then 400, 800. The three waits sum to at most 1.4 s.
        await _client.PutWebhookAsync(vhost, "q", "hook", new
        {
            url = receiver.Url, retry = new { initialIntervalMilliseconds = 200, maxIntervalMilliseconds = 800, maxAttempts = 4 },
        });

        await _client.PublishToQueueAsync(vhost, "q", "always failing");

        var requests = (await receiver.WaitForAsync(4)).OrderBy(r => r.Index).ToList();
        var span = requests[3].At - requests[0].At;
        Assert.True(span < TimeSpan.FromMilliseconds(1400 + 500), $"4 attempts took {span.TotalMilliseconds:0} ms; the ceilings sum to 1400 ms");
        var webhook = await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Failed == 1, "the message rejected after 4 attempts");
        Assert.Equal(3, webhook.Status.Retried);
        Assert.Equal("rejected", webhook.Status.RecentFailures[^1].Outcome);
        Assert.StartsWith("Gave up after 4 attempt(s): HTTP 500", webhook.Status.RecentFailures[^1].Error);
        Assert.Equal(4, (await receiver.WaitForAsync(4)).Count);
    }

    /// <summary>A queue "q" whose rejected messages go to "q.dead" through the default exchange.</summary>
    private static readonly object DeadLettered = new
    {
        arguments = new Dictionary<string, object> { ["x-dead-letter-exchange"] = "", ["x-dead-letter-routing-key"] = "q.dead" },
    };

    /// <summary>
    /// The embedded engine adds the webhook's error and name to the dead-lettered copy; RabbitMQ dead-letters the
    /// message as it is, with its own x-death only (a reject carries no headers in AMQP).
    /// </summary>
    private protected virtual bool RejectionAddsHeaders => true;

    private void AssertRejectionHeaders(JsonElement headers, string error)
    {
        if (RejectionAddsHeaders)
        {
            Assert.Equal(error, headers.GetProperty("x-webhook-error").GetString());
            Assert.Equal("hook", headers.GetProperty("x-webhook-name").GetString());
        }
        else
        {
            Assert.False(headers.TryGetProperty("x-webhook-error", out _), "RabbitMQ dead-letters the message unchanged");
        }
    }

    /// <summary>The one message dead-lettered into "q.dead", with the headers the rejection added.</summary>
    private async Task<JsonElement> DeadLetterAsync(string vhost)
    {
        await _client.WaitForQueueAsync(vhost, "q.dead", q => q.MessagesReady == 1, "the message dead-lettered");
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q.dead", new { max = 10, ackMode = "auto" }));
        return delivery.Properties.GetProperty("headers");
    }

    [Fact]
    public async Task Exhausted_retries_dead_letter_the_message_with_the_last_error()
    {
        var (vhost, receiver) = await SetUpAsync(declaration: DeadLettered);
        await using var _ = receiver;
        await _client.DeclareQueueAsync(vhost, "q.dead");
        receiver.Respond = Answer(_ => 502);
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, retry = new { initialIntervalMilliseconds = 5, maxIntervalMilliseconds = 5, maxAttempts = 3 } });

        await _client.PublishToQueueAsync(vhost, "q", "undeliverable");

        await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Failed == 1, "the rejection");
        var headers = await DeadLetterAsync(vhost);
        AssertRejectionHeaders(headers, "Gave up after 3 attempt(s): HTTP 502");
        Assert.Equal("rejected", headers.GetProperty("x-death")[0].GetProperty("reason").GetString());
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
        Assert.Equal(3, receiver.Requests.Count);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(404)]
    [InlineData(422)]
    public async Task A_client_error_dead_letters_the_message_at_once_without_retry(int status)
    {
        var (vhost, receiver) = await SetUpAsync(declaration: DeadLettered);
        await using var _ = receiver;
        await _client.DeclareQueueAsync(vhost, "q.dead");
        receiver.Respond = async (_, http) =>
        {
            http.Response.StatusCode = status;
            await http.Response.WriteAsync("refused: unknown order");
        };
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, retry = WebhookApi.FastRetry });

        await _client.PublishToQueueAsync(vhost, "q", "bad order");

        var webhook = await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Failed == 1, "the rejection");
        Assert.Equal(0, webhook.Status.Retried);
        var failure = Assert.Single(webhook.Status.RecentFailures);
        Assert.Equal((status, "rejected"), (failure.Status!.Value, failure.Outcome));
        Assert.Equal($"HTTP {status}: refused: unknown order", failure.Error);
        var headers = await DeadLetterAsync(vhost);
        AssertRejectionHeaders(headers, $"HTTP {status}: refused: unknown order");
        Assert.Equal("rejected", headers.GetProperty("x-death")[0].GetProperty("reason").GetString());
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
        Assert.Single(receiver.Requests);
    }

    [Fact]
    public async Task Without_a_dead_letter_exchange_a_rejected_message_is_dropped()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        receiver.Respond = Answer(_ => 400);
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url });

        await _client.PublishToQueueAsync(vhost, "q", "dropped");

        await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Failed == 1, "the rejection");
        await _client.WaitForQueueAsync(vhost, "q", q => q.Messages == 0, "the message gone from the queue");
    }

    [Fact]
    public async Task Gone_disables_the_webhook_keeps_the_message_and_enable_resumes()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        var gone = true;
        receiver.Respond = Answer(_ => Volatile.Read(ref gone) ? 410 : 200);
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, retry = WebhookApi.FastRetry });

        await _client.PublishToQueueAsync(vhost, "q", "first");
        await _client.PublishToQueueAsync(vhost, "q", "second");

        var disabled = await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.State == "disabled", "the webhook disabled");
        Assert.Contains("410", disabled.Status.DisabledReason);
        Assert.NotNull(disabled.Status.DisabledAt);
        Assert.Equal("disabled", disabled.Status.RecentFailures[^1].Outcome);
        var queue = await _client.WaitForQueueAsync(vhost, "q", q => q.MessagesReady == 2 && q.Consumers == 0, "both messages back in the queue");
        Assert.Equal(0, queue.MessagesUnacknowledged);
        var attempts = receiver.Requests.Count;

        Volatile.Write(ref gone, false);
        var response = await _client.SendOkAsync(HttpMethod.Post, WebhookApi.Webhook(vhost, "q", "hook") + "/enable", null, HttpStatusCode.OK);
        Assert.Contains("\"state\":\"active\"", await response.Content.ReadAsStringAsync());

        await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Delivered == 2, "both delivered after re-enabling");
        Assert.Equal(["first", "second"], receiver.Requests.OrderBy(r => r.Index).Skip(attempts).Select(r => r.Text));
        Assert.Equal("true", receiver.Requests.OrderBy(r => r.Index).Skip(attempts).First().Header("amqp-redelivered"));
    }

    [Fact]
    public async Task An_attempt_without_an_answer_within_the_timeout_is_retried()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        receiver.Respond = async (request, http) =>
        {
            if (request.Index == 1) await Task.Delay(TimeSpan.FromSeconds(10), http.RequestAborted).ContinueWith(_ => { });
            http.Response.StatusCode = 204;
        };
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, timeoutMilliseconds = 300, retry = WebhookApi.FastRetry });

        await _client.PublishToQueueAsync(vhost, "q", "slow");

        var webhook = await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Delivered == 1, "the delivery after the timeout");
        var failure = Assert.Single(webhook.Status.RecentFailures);
        Assert.Equal("No answer within 300 ms.", failure.Error);
        Assert.Null(failure.Status);
        Assert.Equal("retry", failure.Outcome);
    }

    [Fact]
    public async Task An_endpoint_that_is_down_then_up_gets_the_message_once_it_listens()
    {
        var vhost = await _client.CreateVhostAsync("wh");
        await _client.DeclareQueueAsync(vhost, "q");
        var port = WebhookReceiver.FreePort();
        await _client.PutWebhookAsync(vhost, "q", "hook", new
        {
            url = $"http://127.0.0.1:{port}/hook", retry = new { initialIntervalMilliseconds = 20, maxIntervalMilliseconds = 200, maxAttempts = 1000 },
        });
        await _client.PublishToQueueAsync(vhost, "q", "patient");

        var failing = await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Retried >= 2, "failed connection attempts");
        Assert.Null(failing.Status.RecentFailures[0].Status);
        Assert.Equal(1, failing.Status.InFlight);

        await using var receiver = await WebhookReceiver.StartAsync(port);
        var request = (await receiver.WaitForAsync(1))[0];
        Assert.Equal("patient", request.Text);
        await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Delivered == 1, "the delivery once the endpoint is up");
    }

    [Fact]
    public async Task A_redirect_is_not_followed_and_is_retried()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        receiver.Respond = (request, http) =>
        {
            if (request.Path == "/hook")
            {
                http.Response.StatusCode = 307;
                http.Response.Headers.Location = "/elsewhere";
            }
            else http.Response.StatusCode = 204;
            return Task.CompletedTask;
        };
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, retry = new { initialIntervalMilliseconds = 5, maxIntervalMilliseconds = 5, maxAttempts = 3 } });

        await _client.PublishToQueueAsync(vhost, "q", "redirected");

        var webhook = await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Failed == 1, "the rejection after 3 redirects");
        Assert.Equal(2, webhook.Status.Retried);
        Assert.All(receiver.Requests, r => Assert.Equal("/hook", r.Path));
    }

    [Fact]
    public async Task Only_a_bounded_part_of_an_error_answer_is_read()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        receiver.Respond = async (_, http) =>
        {
            http.Response.StatusCode = 400;
            await http.Response.WriteAsync(new string('x', 200_000));
        };
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url });

        await _client.PublishToQueueAsync(vhost, "q", "m");

        var webhook = await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Failed == 1, "the rejection");
        Assert.Equal("HTTP 400: " + new string('x', 1024), webhook.Status.LastError);
    }
}
