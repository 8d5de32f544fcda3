using System.Net;
using System.Text.Json;

namespace Gateway.Server.Tests;

/// <summary>GET /api/overview, and the counts and rates of queues and exchanges.</summary>
public sealed class StatisticsTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    private readonly HttpClient _client = factory.CreateClient();

    private Task<ApiOverview> OverviewAsync() => _client.GetJsonAsync<ApiOverview>("/api/overview");

    [Fact]
    public async Task Overview_has_the_agreed_shape()
    {
        var response = await _client.GetAsync("/api/overview");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = json.RootElement;
        Assert.Equal(["messages", "ready", "unacked", "delayed"], root.GetProperty("queueTotals").EnumerateObject().Select(p => p.Name));
        Assert.Equal(["vhosts", "exchanges", "queues", "bindings", "consumers"], root.GetProperty("objectTotals").EnumerateObject().Select(p => p.Name));
        Assert.Equal(["publish", "deliver", "ack", "redeliver", "deadLetter"], root.GetProperty("rates").EnumerateObject().Select(p => p.Name));
        Assert.All(root.GetProperty("rates").EnumerateObject(), p => Assert.Equal(JsonValueKind.Number, p.Value.ValueKind));
    }

    [Fact]
    public async Task Overview_counts_what_a_new_vhost_adds()
    {
        var before = await OverviewAsync();
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "x", "fanout");
        await _client.DeclareQueueAsync(vhost, "a");
        await _client.DeclareQueueAsync(vhost, "b");
        await _client.BindAsync(vhost, "x", "a");
        await _client.BindAsync(vhost, "x", "b");
        await _client.PublishAsync(vhost, "x", "", "m1");
        await _client.PublishAsync(vhost, "x", "", "m2");
        await _client.GetAsync(vhost, "a", new { max = 1 });

        var after = await OverviewAsync();

        // A vhost brings the default exchange and five amq.* ones besides its own.
        Assert.Equal(before.ObjectTotals with { Vhosts = before.ObjectTotals.Vhosts + 1, Exchanges = before.ObjectTotals.Exchanges + 7,
            Queues = before.ObjectTotals.Queues + 2, Bindings = before.ObjectTotals.Bindings + 2 }, after.ObjectTotals);
        Assert.Equal(new ApiQueueTotals(before.QueueTotals.Messages + 4, before.QueueTotals.Ready + 3, before.QueueTotals.Unacked + 1,
            before.QueueTotals.Delayed), after.QueueTotals);
    }

    [Fact]
    public async Task Overview_rates_move_with_traffic()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        for (var i = 0; i < 20; i++) await _client.PublishToQueueAsync(vhost, "q", $"m{i}");
        var got = await _client.GetAsync(vhost, "q", new { max = 20 });
        await _client.PostJsonAsync(Urls.Ack(vhost, "q"), new { deliveryTags = got.Select(d => d.DeliveryTag) });

        var overview = await Eventually.WaitForAsync(OverviewAsync,
            o => o.Rates is { Publish: > 0, Deliver: > 0, Ack: > 0 }, "publish, deliver and ack rates above 0");

        Assert.Equal(0, overview.Rates.DeadLetter);
    }

    [Fact]
    public async Task Queue_reports_bytes_and_the_age_of_its_oldest_ready_message()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        var empty = await _client.GetQueueAsync(vhost, "q");
        Assert.Null(empty.OldestReadyAgeSeconds);
        Assert.Equal(0, empty.MessageBytes);

        await _client.PublishToQueueAsync(vhost, "q", "12345");
        await _client.PublishToQueueAsync(vhost, "q", "678");
        var first = await _client.GetQueueAsync(vhost, "q");
        var later = await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, "q"),
            q => q.OldestReadyAgeSeconds > first.OldestReadyAgeSeconds, "the oldest message's age to grow");

        Assert.Equal(8, later.MessageBytes);
        Assert.True(first.OldestReadyAgeSeconds >= 0, $"age {first.OldestReadyAgeSeconds}");
    }

    [Fact]
    public async Task Queue_rates_count_publish_deliver_ack_and_redeliver()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        for (var i = 0; i < 5; i++) await _client.PublishToQueueAsync(vhost, "q", $"m{i}");
        var first = await _client.GetAsync(vhost, "q", new { max = 5 });
        await _client.PostJsonAsync(Urls.Nack(vhost, "q"), new { deliveryTags = first.Select(d => d.DeliveryTag), requeue = true });
        var again = await _client.GetAsync(vhost, "q", new { max = 5 });
        await _client.PostJsonAsync(Urls.Ack(vhost, "q"), new { deliveryTags = again.Select(d => d.DeliveryTag) });

        var queue = await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, "q"),
            q => q.Rates is { Publish: > 0, Deliver: > 0, Ack: > 0, Redeliver: > 0 }, "every queue rate but dead-letter above 0");

        // 10 deliveries, 5 of them redeliveries, over the same span of time.
        Assert.Equal(queue.Rates!.Deliver / 2, queue.Rates.Redeliver, 6);
        Assert.Equal(0, queue.Rates.DeadLetter);
    }

    [Fact]
    public async Task Exchange_rates_count_messages_in_and_copies_out()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "fan", "fanout");
        await _client.DeclareQueueAsync(vhost, "a");
        await _client.DeclareQueueAsync(vhost, "b");
        await _client.BindAsync(vhost, "fan", "a");
        await _client.BindAsync(vhost, "fan", "b");
        for (var i = 0; i < 10; i++) await _client.PublishAsync(vhost, "fan", "", $"m{i}");

        var exchange = await Eventually.WaitForAsync(() => _client.GetJsonAsync<ApiExchange>(Urls.Exchange(vhost, "fan")),
            x => x.Rates is { PublishIn: > 0 }, "the exchange's publishIn rate above 0");

        Assert.Equal(exchange.Rates!.PublishIn * 2, exchange.Rates.PublishOut, 6);
        var listed = await _client.GetJsonAsync<List<ApiExchange>>(Urls.Exchanges(vhost));
        Assert.All(listed, x => Assert.NotNull(x.Rates));
    }
}
