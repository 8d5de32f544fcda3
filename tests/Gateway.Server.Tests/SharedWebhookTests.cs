using System.Net;
using Gateway.Storage.PostgreSql;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>
/// A gateway node on the RabbitMQ cluster whose users and webhooks live in a PostgreSQL database: nodes given the same
/// connection string see the same queues and the same webhooks, and each webhook runs on one of them at a time.
/// </summary>
public sealed class ClusteredGateway : RabbitMqGateway
{
    public ClusteredGateway(string connectionString)
    {
        Settings["Gateway:Storage:Provider"] = "PostgreSql";
        Settings["Gateway:Storage:ConnectionString"] = connectionString;
        Settings["Gateway:Webhooks:AllowedNetworks:0"] = "127.0.0.1/32";
    }
}

/// <summary>
/// Webhooks of queues every node sees (the RabbitMQ backend) with a shared store (PostgreSQL): one node runs each
/// webhook (it holds the webhook's claim, an advisory lock), the others know it and take it over when that node goes;
/// a change or a deletion made through any node reaches the node running it.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SharedWebhookTests(PostgresServer postgres) : IAsyncLifetime
{
    private ClusteredGateway _a = null!;
    private ClusteredGateway _b = null!;
    private HttpClient _clientA = null!;
    private HttpClient _clientB = null!;
    private WebhookReceiver _receiver = null!;
    private readonly string _queue = "hooked-" + Guid.NewGuid().ToString("N")[..12];
    private string Database { get; set; } = "";

    public async Task InitializeAsync()
    {
        var database = await postgres.CreateDatabaseAsync("webhooks");
        Database = new Npgsql.NpgsqlConnectionStringBuilder(database).Database!;
        _a = new ClusteredGateway(database);
        _clientA = _a.CreateClient();
        _b = new ClusteredGateway(database);
        _clientB = _b.CreateClient();
        _receiver = await WebhookReceiver.StartAsync();
        await _clientA.DeclareQueueAsync("default", _queue, new { durable = true });
    }

    public async Task DisposeAsync()
    {
        try { await _clientB.DeleteAsync(Urls.Queue("default", _queue)); } catch (HttpRequestException) { }
        _a.Dispose();
        _b.Dispose();
        await _receiver.DisposeAsync();
    }

    private Task<ApiWebhook> CreateOnAAsync(string url) =>
        _clientA.PutWebhookAsync("default", _queue, "hook", new { url, concurrency = 1, retry = WebhookApi.FastRetry });

    private Task KnownToAsync(HttpClient client) =>
        Eventually.WaitForAsync(async () => (await client.GetAsync(WebhookApi.Webhook("default", _queue, "hook"))).StatusCode,
            s => s == HttpStatusCode.OK, "the other node to know the webhook");

    [Fact]
    public async Task A_webhook_runs_on_one_node_only_and_delivers_each_message_once_in_order()
    {
        await CreateOnAAsync(_receiver.Url);
        await KnownToAsync(_clientB);

        for (var i = 0; i < 20; i++) await _clientB.PublishToQueueAsync("default", _queue, $"m{i}");

        var requests = await _receiver.WaitForAsync(20);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"m{i}"), requests.Select(r => r.Text));
        Assert.Equal(1, _receiver.MaxConcurrent);
        // The node that created it holds its claim and ran it; the other one knows it but never consumed.
        await _clientA.WaitForWebhookAsync("default", _queue, "hook", w => w.Status.Delivered == 20, "node A's count of deliveries");
        var idle = await _clientB.GetWebhookAsync("default", _queue, "hook");
        Assert.Equal((0L, "active"), (idle.Status.Delivered, idle.Status.State));
        Assert.Equal(20, _receiver.Requests.Count);
    }

    [Fact]
    public async Task When_the_node_running_a_webhook_goes_another_node_takes_it_over()
    {
        await CreateOnAAsync(_receiver.Url);
        await KnownToAsync(_clientB);
        for (var i = 0; i < 3; i++) await _clientB.PublishToQueueAsync("default", _queue, $"before-{i}");
        await _receiver.WaitForAsync(3);

        _a.Dispose(); // its PostgreSQL session ends, and the webhook's claim with it

        for (var i = 0; i < 3; i++) await _clientB.PublishToQueueAsync("default", _queue, $"after-{i}");
        await _receiver.WaitForAsync(6, "the deliveries after node A went, from node B");
        await _clientB.WaitForWebhookAsync("default", _queue, "hook", w => w.Status.Delivered == 3, "node B's count of deliveries");
        Assert.Equal(["before-0", "before-1", "before-2", "after-0", "after-1", "after-2"],
            _receiver.Requests.Select(r => r.Text));
    }

    [Fact]
    public async Task When_the_runners_connection_to_PostgreSQL_drops_the_webhook_is_claimed_again_and_goes_on_once()
    {
        await CreateOnAAsync(_receiver.Url);
        await KnownToAsync(_clientB);
        await _clientB.PublishToQueueAsync("default", _queue, "before");
        await _receiver.WaitForAsync(1);
        var locked = $"FROM pg_locks WHERE locktype = 'advisory' AND objid = {(uint)PostgresStateStore.ClaimKey($"webhook:default/{_queue}/hook")}";
        var holder = postgres.Psql(Database, "SELECT pid " + locked);

        // What a network failure does to node A's session: the lock goes with it. A notices on its next pass and stops;
        // whichever node claims it next (A again, or B) runs it.
        Assert.Equal("t", postgres.Psql(Database, "SELECT pg_terminate_backend(pid) " + locked));
        await Eventually.WaitForAsync(() => Task.FromResult(postgres.Psql(Database, "SELECT pid " + locked)), pid => pid.Length > 0 && pid != holder,
            "the claim to be taken again by a new session");
        // One consumer: had A gone on running without its claim, the new holder's consumer would be a second one.
        await _clientB.WaitForQueueAsync("default", _queue, q => q.Consumers == 1, "one node to run the webhook");
        await _clientB.PublishToQueueAsync("default", _queue, "after");

        await _receiver.WaitForAsync(2, "the delivery after the lost connection");
        var delivered = (await _clientA.GetWebhookAsync("default", _queue, "hook")).Status.Delivered
                        + (await _clientB.GetWebhookAsync("default", _queue, "hook")).Status.Delivered;
        Assert.Equal(2, delivered);
        Assert.Equal(["before", "after"], _receiver.Requests.Select(r => r.Text));
    }

    [Fact]
    public async Task A_change_made_through_another_node_reaches_the_node_running_the_webhook()
    {
        await CreateOnAAsync(_receiver.Url);
        await KnownToAsync(_clientB);
        await using var other = await WebhookReceiver.StartAsync();

        await _clientB.PutWebhookAsync("default", _queue, "hook", new { url = other.Url, concurrency = 1, retry = WebhookApi.FastRetry },
            HttpStatusCode.OK);
        await _clientA.WaitForWebhookAsync("default", _queue, "hook", w => w.Url == other.Url, "node A to take in the new address");
        await _clientB.PublishToQueueAsync("default", _queue, "to the new address");

        await other.WaitForAsync(1);
        Assert.Empty(_receiver.Requests);
    }

    [Fact]
    public async Task A_webhook_deleted_through_another_node_stops_where_it_ran()
    {
        await CreateOnAAsync(_receiver.Url);
        await KnownToAsync(_clientB);

        await _clientB.SendOkAsync(HttpMethod.Delete, WebhookApi.Webhook("default", _queue, "hook"), null, HttpStatusCode.NoContent);
        await Eventually.WaitForAsync(async () => (await _clientA.GetAsync(WebhookApi.Webhook("default", _queue, "hook"))).StatusCode,
            s => s == HttpStatusCode.NotFound, "node A to drop the webhook");
        await _clientB.PublishToQueueAsync("default", _queue, "nobody takes this");

        // Nobody consumes it: it waits in the queue (RabbitMQ's counts lag by its statistics interval).
        await _clientB.WaitForQueueAsync("default", _queue, q => q.MessagesReady == 1 && q.Consumers == 0, "the message to wait in the queue");
        Assert.Empty(_receiver.Requests);
    }
}
