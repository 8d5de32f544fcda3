using Gateway.Testing;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Gateway.Server.Tests;

/// <summary>
/// Webhook delivery to real HTTP receivers (Kestrel on 127.0.0.1, allowed by the test configuration): what a POST
/// carries in each format, signatures checked by an independent implementation of the Standard Webhooks scheme, and
/// order and concurrency.
/// </summary>
public abstract partial class WebhookTests<TFactory>(TFactory factory) : IClassFixture<TFactory> where TFactory : GatewayFactory
{
    private protected readonly HttpClient _client = factory.CreateClient();

    private async Task<(string Vhost, WebhookReceiver Receiver)> SetUpAsync(string queue = "q", object? declaration = null)
    {
        var vhost = await _client.CreateVhostAsync("wh");
        await _client.DeclareQueueAsync(vhost, queue, declaration);
        return (vhost, await WebhookReceiver.StartAsync());
    }

    [Fact]
    public async Task A_message_is_posted_raw_with_its_properties_as_headers_and_acknowledged_by_a_2xx()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url });

        await _client.PublishAsync(vhost, "amq.default", "q", "hello, webhook", new
        {
            contentType = "text/plain", messageId = "m-1", correlationId = "c-1", headers = new Dictionary<string, object> { ["tenant"] = "acme" },
        });

        var request = (await receiver.WaitForAsync(1))[0];
        Assert.Equal("POST", request.Method);
        Assert.Equal("/hook", request.Path);
        Assert.Equal("hello, webhook", request.Text);
        Assert.Equal("text/plain", request.Header("content-type"));
        Assert.Equal("m-1", request.Header("amqp-message-id"));
        Assert.Equal("c-1", request.Header("amqp-correlation-id"));
        Assert.Equal("acme", request.Header("amqp-header-tenant"));
        Assert.Equal("amq.default", request.Header("amqp-exchange"));
        Assert.Equal("q", request.Header("amqp-routing-key"));
        Assert.Equal("false", request.Header("amqp-redelivered"));
        Assert.Equal("1", request.Header("amqp-delivery-count"));
        Assert.Matches("^msg_[A-Za-z0-9_-]{22}$", request.Header("webhook-id"));
        var timestamp = DateTimeOffset.FromUnixTimeSeconds(long.Parse(request.Header("webhook-timestamp")!));
        Assert.InRange(timestamp, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
        Assert.Null(request.Header("webhook-signature"));

        var webhook = await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Delivered == 1, "the delivery counted");
        Assert.Equal("active", webhook.Status.State);
        Assert.NotNull(webhook.Status.LastDeliveredAt);
        await _client.WaitForQueueAsync(vhost, "q", q => q.Messages == 0, "the queue emptied by the ack");
    }

    [Fact]
    public async Task The_json_format_posts_an_envelope_with_the_id_routing_data_properties_and_payload()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, format = "json" });

        await _client.PublishAsync(vhost, "amq.default", "q", "{\"order\":42}", new { contentType = "application/json", type = "order.created" });

        var request = (await receiver.WaitForAsync(1))[0];
        Assert.Equal("application/json", request.Header("content-type"));
        using var envelope = JsonDocument.Parse(request.Body);
        var root = envelope.RootElement;
        Assert.Equal(request.Header("webhook-id"), root.GetProperty("id").GetString());
        Assert.Equal(vhost, root.GetProperty("vhost").GetString());
        Assert.Equal("q", root.GetProperty("queue").GetString());
        Assert.Equal("amq.default", root.GetProperty("exchange").GetString());
        Assert.Equal("q", root.GetProperty("routingKey").GetString());
        Assert.False(root.GetProperty("redelivered").GetBoolean());
        Assert.Equal(1, root.GetProperty("deliveryCount").GetInt32());
        Assert.Equal("order.created", root.GetProperty("properties").GetProperty("type").GetString());
        Assert.Equal("{\"order\":42}", root.GetProperty("payload").GetString());
        Assert.Equal("string", root.GetProperty("payloadEncoding").GetString());
    }

    [Fact]
    public async Task The_cloudevents_format_posts_binary_mode_with_ce_headers()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, format = "cloudevents" });

        await _client.PublishAsync(vhost, "amq.default", "q", "<order/>", new { contentType = "application/xml", type = "com.example.order", timestamp = 1_800_000_000 });

        var request = (await receiver.WaitForAsync(1))[0];
        Assert.Equal("<order/>", request.Text);
        Assert.Equal("application/xml", request.Header("content-type"));
        Assert.Equal("1.0", request.Header("ce-specversion"));
        Assert.Equal(request.Header("webhook-id"), request.Header("ce-id"));
        Assert.Equal("com.example.order", request.Header("ce-type"));
        Assert.Equal($"/api/vhosts/{vhost}/exchanges/amq.default", request.Header("ce-source"));
        Assert.Equal("q", request.Header("ce-subject"));
        Assert.Equal("2027-01-15T08:00:00Z", request.Header("ce-time"));
    }

    // ---------------------------------------------------------------- signatures (Standard Webhooks)

    /// <summary>The receiver's side of the scheme, written here from the specification, sharing no code with the server.</summary>
    private static bool Verifies(ReceivedRequest request, string secret)
    {
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var signed = Encoding.UTF8.GetBytes($"{request.Header("webhook-id")}.{request.Header("webhook-timestamp")}.").Concat(request.Body).ToArray();
        var expected = Convert.ToBase64String(HMACSHA256.HashData(key, signed));
        return request.Header("webhook-signature")!.Split(' ')
            .Any(s => s.StartsWith("v1,", StringComparison.Ordinal) && CryptographicOperations.FixedTimeEquals(
                Encoding.ASCII.GetBytes(s[3..]), Encoding.ASCII.GetBytes(expected)));
    }

    private static string NewSecret() => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    [Fact]
    public async Task A_signed_delivery_verifies_with_the_secret_and_not_with_another()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        var secret = NewSecret();
        var created = await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, secret, format = "json" });
        Assert.True(created.HasSecret);

        await _client.PublishAsync(vhost, "amq.default", "q", "signed payload");

        var request = (await receiver.WaitForAsync(1))[0];
        Assert.Matches("^v1,[A-Za-z0-9+/]{43}=$", request.Header("webhook-signature"));
        Assert.True(Verifies(request, secret), $"signature {request.Header("webhook-signature")} does not verify");
        Assert.False(Verifies(request, NewSecret()));
        var tampered = request with { Body = [.. request.Body, (byte)' '] };
        Assert.False(Verifies(tampered, secret));
    }

    [Fact]
    public async Task During_a_secret_rotation_both_secrets_sign_and_the_grace_period_is_shown()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        string oldSecret = NewSecret(), newSecret = NewSecret();
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, secret = oldSecret });

        var rotated = await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, secret = newSecret, secretRotationGraceSeconds = 3600 },
            HttpStatusCode.OK);
        await _client.PublishAsync(vhost, "amq.default", "q", "during rotation");

        Assert.InRange(rotated.PreviousSecretExpiresAt!.Value, DateTimeOffset.UtcNow.AddMinutes(55), DateTimeOffset.UtcNow.AddMinutes(61));
        var request = (await receiver.WaitForAsync(1))[0];
        var signatures = request.Header("webhook-signature")!.Split(' ');
        Assert.Equal(2, signatures.Length);
        Assert.True(Verifies(request, newSecret));
        Assert.True(Verifies(request, oldSecret));
        Assert.True(Verifies(request with { Headers = new Dictionary<string, string>(request.Headers) { ["webhook-signature"] = signatures[0] } }, newSecret),
            "the current secret's signature comes first");
    }

    [Fact]
    public async Task A_rotation_without_grace_signs_with_the_new_secret_only()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        string oldSecret = NewSecret(), newSecret = NewSecret();
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, secret = oldSecret });
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, secret = newSecret, secretRotationGraceSeconds = 0 }, HttpStatusCode.OK);

        await _client.PublishAsync(vhost, "amq.default", "q", "after rotation");

        var request = (await receiver.WaitForAsync(1))[0];
        Assert.Single(request.Header("webhook-signature")!.Split(' '));
        Assert.True(Verifies(request, newSecret));
        Assert.False(Verifies(request, oldSecret));
    }

    [Fact]
    public async Task The_secret_is_never_answered_back()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        var secret = NewSecret();
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, secret });

        var single = await (await _client.GetAsync(WebhookApi.Webhook(vhost, "q", "hook"))).Content.ReadAsStringAsync();
        var list = await (await _client.GetAsync(WebhookApi.Webhooks(vhost, "q"))).Content.ReadAsStringAsync();

        Assert.DoesNotContain(secret["whsec_".Length..], single);
        Assert.DoesNotContain(secret["whsec_".Length..], list);
        Assert.Contains("\"hasSecret\":true", single);
    }

    // ---------------------------------------------------------------- order and concurrency

    [Fact]
    public async Task With_concurrency_1_messages_arrive_one_at_a_time_in_queue_order_even_across_retries()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        var failedOnce = 0;
        receiver.Respond = async (request, http) =>
        {
            await Task.Delay(5); // a little work, so that overlapping requests would show
            // The fourth message fails twice before it is taken: the ones after it must wait.
            http.Response.StatusCode = request.Text == "m3" && Interlocked.Increment(ref failedOnce) <= 2 ? 503 : 200;
        };
        for (var i = 0; i < 10; i++) await _client.PublishToQueueAsync(vhost, "q", $"m{i}");

        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, concurrency = 1, retry = WebhookApi.FastRetry });

        var requests = await receiver.WaitForAsync(12);
        Assert.Equal(["m0", "m1", "m2", "m3", "m3", "m3", "m4", "m5", "m6", "m7", "m8", "m9"], requests.OrderBy(r => r.Index).Select(r => r.Text));
        Assert.Equal(1, receiver.MaxConcurrent);
        await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status is { Delivered: 10, Retried: 2 }, "10 delivered after 2 retries");
    }

    [Fact]
    public async Task With_concurrency_n_up_to_n_posts_are_in_flight_at_once()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        var all4 = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var arrived = 0;
        receiver.Respond = async (_, http) =>
        {
            if (Interlocked.Increment(ref arrived) == 4) all4.TrySetResult();
            await all4.Task.WaitAsync(Eventually.Deadline); // nobody is answered until four are in flight together
            http.Response.StatusCode = 204;
        };
        for (var i = 0; i < 8; i++) await _client.PublishToQueueAsync(vhost, "q", $"m{i}");

        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, concurrency = 4 });

        await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Delivered == 8, "all 8 delivered");
        Assert.Equal(4, receiver.MaxConcurrent);
    }

    [Fact]
    public async Task A_message_waiting_for_a_retry_does_not_hold_back_the_others_when_concurrency_allows()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        receiver.Respond = (request, http) =>
        {
            http.Response.StatusCode = request.Text == "stuck" ? 503 : 200;
            if (request.Text == "stuck") http.Response.Headers.RetryAfter = "60"; // the next attempt of this one is a minute away
            return Task.CompletedTask;
        };
        await _client.PublishToQueueAsync(vhost, "q", "stuck");
        for (var i = 0; i < 5; i++) await _client.PublishToQueueAsync(vhost, "q", $"m{i}");

        // The stuck message waits a minute before its next attempt; the others must not wait for it.
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, concurrency = 2, retry = WebhookApi.FastRetry });

        var webhook = await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Delivered == 5, "the 5 others delivered");
        Assert.Equal(1, webhook.Status.InFlight);
        Assert.True(webhook.Status.LagMilliseconds >= 0);
        Assert.Equal(1, webhook.Status.Retried);

        // Deleting the webhook abandons the wait: the stuck message is back in the queue, not lost.
        await _client.SendOkAsync(HttpMethod.Delete, WebhookApi.Webhook(vhost, "q", "hook"), null, HttpStatusCode.NoContent);
        var queue = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal(1, queue.MessagesReady);
        Assert.Equal(0, queue.MessagesUnacknowledged);
    }
}

/// <summary>The embedded engine, whose webhooks may reach 127.0.0.1 (where the test receivers listen).</summary>
public sealed class EmbeddedWebhookGateway : GatewayFactory
{
    public EmbeddedWebhookGateway() => Settings["Gateway:Webhooks:AllowedNetworks:0"] = "127.0.0.1/32";
}

/// <summary>The RabbitMQ backend, whose webhooks may reach 127.0.0.1.</summary>
public sealed class RabbitMqWebhookGateway : RabbitMqGateway
{
    public RabbitMqWebhookGateway() => Settings["Gateway:Webhooks:AllowedNetworks:0"] = "127.0.0.1/32";
}

/// <summary>Webhooks on the embedded engine.</summary>
public sealed class WebhookTests(EmbeddedWebhookGateway factory) : WebhookTests<EmbeddedWebhookGateway>(factory);

/// <summary>Webhooks on the RabbitMQ backend.</summary>
public sealed class WebhookTestsOnRabbitMq(RabbitMqWebhookGateway factory) : WebhookTests<RabbitMqWebhookGateway>(factory)
{
    private protected override bool RejectionAddsHeaders => false;
}
