using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gateway.Server.Tests;

/// <summary>
/// The definitions a real RabbitMQ 3.10.8 exported (Fixtures/rabbitmq-definitions, with how they were produced) import
/// into Gateway and route the messages RabbitMQ routed, to the same queues in the same order — queues with x- arguments
/// (TTL, dead-lettering, length limit) included. The one difference is RabbitMQ's own: its export leaves out internal
/// exchanges, so the bindings of 'audit' cannot import, and are reported refused.
/// </summary>
public sealed class DefinitionsFixtureTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "rabbitmq-definitions");

    private readonly HttpClient _client = factory.CreateClient();

    [Fact]
    public async Task RabbitMQs_export_imports_and_routes_as_RabbitMQ_did()
    {
        var response = await _client.SendRawJsonAsync(HttpMethod.Post, "/api/definitions", await File.ReadAllTextAsync(Path.Combine(Folder, "definitions.json")));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var report = JsonNode.Parse(body)!;

        // What was refused, and why: only the two bindings of the internal exchange RabbitMQ's export left out.
        Assert.All(report["queues"]!.AsArray(), q => Assert.True((string?)q!["outcome"] == "created", q.ToJsonString()));
        Assert.All(report["exchanges"]!.AsArray(), x => Assert.True((string?)x!["outcome"] == "created", x.ToJsonString()));
        var refusedBindings = report["bindings"]!.AsArray().Where(b => (string?)b!["outcome"] == "refused").ToList();
        Assert.Equal(2, refusedBindings.Count);
        Assert.All(refusedBindings, b => Assert.Equal("No exchange 'audit' in vhost 'default'.", (string?)b!["reason"]));
        // The queues' x- arguments went through to their declarations as RabbitMQ wrote them.
        var withDlx = await _client.GetQueueAsync("default", "with-dlx");
        Assert.Equal("events", withDlx.Arguments.GetProperty("x-dead-letter-exchange").GetString());
        Assert.Equal(60000, (await _client.GetQueueAsync("default", "with-ttl")).Arguments.GetProperty("x-message-ttl").GetInt64());
        Assert.Equal(["users", "permissions", "policies"], report["ignored"]!.AsArray().Select(i => (string)i!["section"]!));

        // The same messages, published in the same order.
        using var routing = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Folder, "routing.json")));
        foreach (var m in routing.RootElement.GetProperty("publishes").EnumerateArray())
        {
            var vhost = m.GetProperty("vhost").GetString() == "/" ? "default" : m.GetProperty("vhost").GetString()!;
            object? properties = m.TryGetProperty("headers", out var headers) ? new { headers } : null;
            await _client.PublishAsync(vhost, m.GetProperty("exchange").GetString()!, m.GetProperty("routing_key").GetString()!,
                m.GetProperty("payload").GetString()!, properties);
        }

        foreach (var queue in routing.RootElement.GetProperty("queues").EnumerateObject())
        {
            var parts = queue.Name.Split(' ', 2);
            var (vhost, name) = (parts[0] == "/" ? "default" : parts[0], parts[1]);
            var rabbit = queue.Value.EnumerateArray().Select(p => p.GetString()!).ToList();
            var gateway = (await _client.GetAsync(vhost, name, new { max = 100, ackMode = "auto" })).Select(d => d.Payload).ToList();
            // audit-log received p01, p02 and p06 in RabbitMQ through the internal exchange that its export left out.
            var expected = name == "audit-log" ? [] : rabbit;
            Assert.True(expected.SequenceEqual(gateway), $"Queue '{name}' in '{vhost}': RabbitMQ held [{string.Join(", ", rabbit)}], Gateway [{string.Join(", ", gateway)}].");
        }
    }

    [Fact]
    public async Task The_fixture_records_a_real_RabbitMQ_310_export()
    {
        using var definitions = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Folder, "definitions.json")));
        using var routing = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Folder, "routing.json")));

        Assert.Equal("3.10.8", definitions.RootElement.GetProperty("rabbit_version").GetString());
        Assert.Equal("RabbitMQ 3.10.8", routing.RootElement.GetProperty("recorded_against").GetString());
        Assert.Equal(["direct", "fanout", "headers", "topic"], definitions.RootElement.GetProperty("exchanges").EnumerateArray()
            .Select(x => x.GetProperty("type").GetString()).Distinct().Order());
    }
}
