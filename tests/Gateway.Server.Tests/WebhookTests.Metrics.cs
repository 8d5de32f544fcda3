using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>Webhook deliveries, retries, failures and state as series of /metrics.</summary>
public sealed partial class WebhookTests
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
}
