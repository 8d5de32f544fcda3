using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>
/// A secured gateway node whose users, keys, permissions and webhooks live in a PostgreSQL database
/// (<c>Gateway:Storage:Provider=PostgreSql</c>); nodes given the same connection string share them. Its own SQLite
/// folder (topology) is <paramref name="dataPath"/> when given, so that a node can be restarted on it.
/// </summary>
public sealed class PostgresGateway : SecuredGateway
{
    public PostgresGateway(string connectionString, string? dataPath = null)
    {
        Settings["Gateway:Storage:Provider"] = "PostgreSql";
        Settings["Gateway:Storage:ConnectionString"] = connectionString;
        Settings["Gateway:Webhooks:AllowedNetworks:0"] = "127.0.0.1/32";
        if (dataPath is not null) Settings["Gateway:DataPath"] = dataPath;
    }
}

/// <summary>
/// Two gateway nodes over one PostgreSQL database (a fresh one per test): they see the same users and keys, a key
/// revoked on one is refused by the other within a second and ends what it opened there, and webhooks defined on one
/// are the other's after a restart.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class SharedStateTests(PostgresServer postgres) : IAsyncLifetime
{
    /// <summary>The bound: a revocation reaches every node within a second.</summary>
    private static readonly TimeSpan PropagationBound = TimeSpan.FromSeconds(1);

    private string _database = "";
    private PostgresGateway _a = null!;
    private PostgresGateway _b = null!;
    private HttpClient _adminA = null!;
    private HttpClient _adminB = null!;

    public async Task InitializeAsync()
    {
        _database = await postgres.CreateDatabaseAsync("shared");
        _a = new PostgresGateway(_database);
        _adminA = _a.CreateAdminClient(); // node A starts first and creates the administrator; B finds it
        _b = new PostgresGateway(_database);
        _adminB = _b.CreateAdminClient();
    }

    public Task DisposeAsync()
    {
        _a.Dispose();
        _b.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Waits until <paramref name="condition"/> holds and returns how long that took.</summary>
    private static async Task<TimeSpan> TimeUntilAsync(Func<Task<bool>> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        await Eventually.WaitForAsync(condition, ok => ok, what);
        return watch.Elapsed;
    }

    [Fact]
    public void Migrations_apply_on_an_empty_database_and_both_nodes_share_them()
    {
        var database = new Npgsql.NpgsqlConnectionStringBuilder(_database).Database!;

        Assert.Equal("1", postgres.Psql(database, "SELECT COUNT(*) FROM \"__EFMigrationsHistory\""));
        Assert.Equal("api_keys,permissions,users,webhooks", postgres.Psql(database,
            "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_name IN ('users', 'api_keys', 'permissions', 'webhooks')"));
        Assert.Equal("1", postgres.Psql(database, "SELECT COUNT(*) FROM users"));
    }

    [Fact]
    public async Task Two_nodes_starting_together_on_an_empty_database_both_start_with_the_one_administrator()
    {
        var database = await postgres.CreateDatabaseAsync("together");
        using var first = new PostgresGateway(database);
        using var second = new PostgresGateway(database);

        // Both find the user table empty and bootstrap the configured key at once: one stores it, the other finds it.
        var clients = await Task.WhenAll(Task.Run(first.CreateAdminClient), Task.Run(second.CreateAdminClient));

        foreach (var client in clients) Assert.Equal("admin", (await client.WhoAmIAsync()).User);
        var admins = await clients[1].GetJsonAsync<List<ApiUser>>(SecurityUrls.Users);
        Assert.Single(admins);
    }

    [Fact]
    public async Task A_key_created_on_one_node_authenticates_on_the_other()
    {
        var user = await _adminA.CreateUserAsync("management");
        var key = (await _adminA.CreateKeyAsync(user)).Key;
        using var client = _b.CreateClientWithKey(key);

        await TimeUntilAsync(async () => (await client.GetAsync(SecurityUrls.WhoAmI)).StatusCode == HttpStatusCode.OK, "node B to know the key");

        Assert.Equal(user, (await client.WhoAmIAsync()).User);
        Assert.Contains(await _adminB.GetJsonAsync<List<ApiUser>>(SecurityUrls.Users), u => u.Name == user);
    }

    [Fact]
    public async Task A_key_revoked_on_one_node_is_refused_by_the_other_within_a_second_and_its_WebSocket_there_closes()
    {
        var queue = $"q-{Guid.NewGuid():N}";
        await _adminB.DeclareQueueAsync("default", queue);
        var user = await _adminA.CreateUserAsync();
        await _adminA.SetPermissionAsync("default", user, "", "", ".*");
        var created = await _adminA.CreateKeyAsync(user);
        using var client = _b.CreateClientWithKey(created.Key);
        await TimeUntilAsync(async () => (await client.GetAsync(SecurityUrls.WhoAmI)).StatusCode == HttpStatusCode.OK, "node B to know the key");
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(_b, "default", created.Key);
        await socket.RequestAsync(new { type = "subscribe", id = "s", queue });
        await Eventually.WaitForAsync(() => _adminB.GetQueueAsync("default", queue), q => q.Consumers == 1, "the subscription on node B");

        await _adminA.SendOkAsync(HttpMethod.Delete, SecurityUrls.Key(user, created.Info.Id), body: null, HttpStatusCode.NoContent);

        var refusedAfter = await TimeUntilAsync(async () => (await client.GetAsync(SecurityUrls.WhoAmI)).StatusCode == HttpStatusCode.Unauthorized,
            "node B to refuse the revoked key");
        Assert.True(refusedAfter < PropagationBound, $"Node B refused the revoked key only after {refusedAfter.TotalMilliseconds:F0} ms.");
        await socket.WaitForServerCloseAsync();
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
        Assert.Contains("revoked", socket.CloseDescription);
        await Eventually.WaitForAsync(() => _adminB.GetQueueAsync("default", queue), q => q.Consumers == 0, "the subscription on node B to end");
    }

    [Fact]
    public async Task A_user_deleted_on_one_node_is_refused_by_the_other()
    {
        var user = await _adminA.CreateUserAsync();
        var key = (await _adminA.CreateKeyAsync(user)).Key;
        using var client = _b.CreateClientWithKey(key);
        await TimeUntilAsync(async () => (await client.GetAsync(SecurityUrls.WhoAmI)).StatusCode == HttpStatusCode.OK, "node B to know the key");

        await _adminA.SendOkAsync(HttpMethod.Delete, SecurityUrls.User(user), body: null, HttpStatusCode.NoContent);

        var refusedAfter = await TimeUntilAsync(async () => (await client.GetAsync(SecurityUrls.WhoAmI)).StatusCode == HttpStatusCode.Unauthorized,
            "node B to refuse the deleted user's key");
        Assert.True(refusedAfter < PropagationBound, $"Node B refused the deleted user's key only after {refusedAfter.TotalMilliseconds:F0} ms.");
    }

    [Fact]
    public async Task A_permission_taken_away_on_one_node_ends_the_subscription_on_the_other()
    {
        var queue = $"q-{Guid.NewGuid():N}";
        await _adminB.DeclareQueueAsync("default", queue);
        var user = await _adminA.CreateUserAsync();
        await _adminA.SetPermissionAsync("default", user, "", "", ".*");
        var key = (await _adminA.CreateKeyAsync(user)).Key;
        using var client = _b.CreateClientWithKey(key);
        await TimeUntilAsync(async () => (await client.GetAsync(Urls.Queue("default", queue))).StatusCode == HttpStatusCode.OK, "node B to grant the read");
        await using var socket = await TestServerSockets.ConnectWithKeyAsync(_b, "default", key);
        await socket.RequestAsync(new { type = "subscribe", id = "s", queue });
        await Eventually.WaitForAsync(() => _adminB.GetQueueAsync("default", queue), q => q.Consumers == 1, "the subscription on node B");

        await _adminA.SetPermissionAsync("default", user, "", "", "^nothing-here$");

        await Eventually.WaitForAsync(() => _adminB.GetQueueAsync("default", queue), q => q.Consumers == 0, "node B to end the subscription");
    }

    [Fact]
    public async Task A_webhook_defined_on_one_node_is_listed_by_the_other_after_a_restart()
    {
        var queue = $"wq-{Guid.NewGuid():N}";
        await _adminA.DeclareQueueAsync("default", queue, new { durable = true });
        await _adminA.PutWebhookAsync("default", queue, "hook", new { url = "http://127.0.0.1:9/hook" });
        // Node B's own topology (the embedded engine keeps it per node) has the queue too; it restarts on the same folder.
        var folder = Path.Combine(Path.GetTempPath(), "gateway-server-tests", Guid.NewGuid().ToString("N"));
        try
        {
            using (var before = new PostgresGateway(_database, folder))
                await before.CreateAdminClient().DeclareQueueAsync("default", queue, new { durable = true });
            using var after = new PostgresGateway(_database, folder);
            var admin = after.CreateAdminClient();

            // Stored webhooks start once recovery has finished, just after the node reports ready.
            await TimeUntilAsync(async () => (await admin.GetAsync(WebhookApi.Webhook("default", queue, "hook"))).StatusCode == HttpStatusCode.OK,
                "node B to start the stored webhook");

            var webhook = await admin.GetWebhookAsync("default", queue, "hook");
            Assert.Equal("http://127.0.0.1:9/hook", webhook.Url);
            Assert.True(webhook.Durable);
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
