using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>Webhook deliveries, retries, failures and state as series of /metrics.</summary>
public abstract partial class WebhookTests<TFactory>
{
    private async Task<double?> WebhookSeriesAsync(string name, string vhost, string webhook)
    {
        var text = await _client.GetStringAsync("/metrics");
        var series = $"{name}{{vhost=\"{vhost}\",queue=\"q\",webhook=\"{webhook}\"}}";
        var match = Regex.Match(text, "^" + Regex.Escape(series) + @" (\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    [Fact]
    public async Task Deliveries_retries_failures_and_a_410_are_series_on_metrics_until_the_webhook_is_deleted()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        // "ok": two 503s, then 200; "bad": 400 (given up on); "gone": 410 (disables the webhook).
        receiver.Respond = Answer(r => r.Text switch { "bad" => 400, "gone" => 410, _ => r.Index <= 2 ? 503 : 200 });
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url, retry = WebhookApi.FastRetry });

        await _client.PublishToQueueAsync(vhost, "q", "ok");
        await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Delivered == 1, "the delivery after two retries");
        await _client.PublishToQueueAsync(vhost, "q", "bad");
        await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Failed == 1, "the rejected message");

        Assert.Equal(1, await WebhookSeriesAsync("gateway_webhook_delivered_total", vhost, "hook"));
        Assert.Equal(2, await WebhookSeriesAsync("gateway_webhook_retried_total", vhost, "hook"));
        Assert.Equal(1, await WebhookSeriesAsync("gateway_webhook_failed_total", vhost, "hook"));
        Assert.Equal(0, await WebhookSeriesAsync("gateway_webhook_in_flight", vhost, "hook"));
        Assert.Equal(0, await WebhookSeriesAsync("gateway_webhook_lag_seconds", vhost, "hook"));
        Assert.Equal(0, await WebhookSeriesAsync("gateway_webhook_disabled", vhost, "hook"));

        await _client.PublishToQueueAsync(vhost, "q", "gone");
        await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.State == "disabled", "the 410 to disable the webhook");
        Assert.Equal(1, await WebhookSeriesAsync("gateway_webhook_disabled", vhost, "hook"));

        await _client.SendOkAsync(HttpMethod.Delete, WebhookApi.Webhook(vhost, "q", "hook"), null, HttpStatusCode.NoContent);
        Assert.Null(await WebhookSeriesAsync("gateway_webhook_delivered_total", vhost, "hook"));
        Assert.Null(await WebhookSeriesAsync("gateway_webhook_disabled", vhost, "hook"));
    }

    [Fact]
    public async Task A_webhook_deleted_and_created_again_starts_its_series_again()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url });
        await _client.PublishToQueueAsync(vhost, "q", "one");
        await _client.PublishToQueueAsync(vhost, "q", "two");
        await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Delivered == 2, "two deliveries");
        Assert.Equal(2, await WebhookSeriesAsync("gateway_webhook_delivered_total", vhost, "hook"));

        // Deleted and created again between two scrapes: the new webhook's counter starts from its own 0.
        await _client.SendOkAsync(HttpMethod.Delete, WebhookApi.Webhook(vhost, "q", "hook"), null, HttpStatusCode.NoContent);
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url });
        await _client.PublishToQueueAsync(vhost, "q", "three");
        await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Delivered == 1, "the new webhook's delivery");

        Assert.Equal(1, await WebhookSeriesAsync("gateway_webhook_delivered_total", vhost, "hook"));
    }

    [Fact]
    public async Task The_status_is_answered_while_deliveries_start_and_finish()
    {
        var (vhost, receiver) = await SetUpAsync();
        await using var _ = receiver;
        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = receiver.Url });
        const int messages = 1000;

        // One message at a time, so that the webhook keeps going from nothing in flight to one and back while it is read
        // (the status once raced with the last delivery finishing and answered 500: this caught it about every other run).
        var publishing = Task.Run(async () =>
        {
            for (var i = 0; i < messages; i++) await _client.PublishToQueueAsync(vhost, "q", $"m{i}");
        });
        ApiWebhook webhook;
        do
        {
            webhook = await _client.GetWebhookAsync(vhost, "q", "hook"); // asserts 200
            Assert.NotNull(await WebhookSeriesAsync("gateway_webhook_in_flight", vhost, "hook"));
        }
        while (webhook.Status.Delivered < messages && !publishing.IsFaulted);
        await publishing;
    }
}
