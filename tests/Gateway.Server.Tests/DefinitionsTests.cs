using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gateway.Server.Tests;

/// <summary>GET and POST /api/definitions: RabbitMQ's format, round trips, idempotence, refusals, all-or-nothing.</summary>
public sealed class DefinitionsTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    private readonly HttpClient _client = factory.CreateClient();

    private async Task<JsonObject> ExportAsync()
    {
        var response = await _client.GetAsync("/api/definitions");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    private async Task<JsonObject> ImportAsync(JsonNode definitions, string query = "", HttpStatusCode expected = HttpStatusCode.OK)
    {
        var response = await _client.SendRawJsonAsync(HttpMethod.Post, "/api/definitions" + query, definitions.ToJsonString());
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"POST /api/definitions{query} answered {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    // The items of one vhost, as the export lists them, with the vhost field taken out (to compare across vhosts).
    private static Dictionary<string, List<string>> ItemsOf(JsonObject export, string vhost) =>
        new[] { "exchanges", "queues", "bindings" }.ToDictionary(section => section, section => export[section]!.AsArray()
            .Where(item => (string?)item!["vhost"] == vhost)
            .Select(item =>
            {
                var copy = item!.DeepClone().AsObject();
                copy.Remove("vhost");
                return copy.ToJsonString();
            })
            .Order(StringComparer.Ordinal).ToList());

    private static JsonObject Retarget(JsonObject export, string from, string to)
    {
        var result = new JsonObject { ["vhosts"] = new JsonArray(new JsonObject { ["name"] = to }) };
        foreach (var section in new[] { "exchanges", "queues", "bindings" })
        {
            var items = new JsonArray();
            foreach (var item in export[section]!.AsArray().Where(i => (string?)i!["vhost"] == from))
            {
                var copy = item!.DeepClone().AsObject();
                copy["vhost"] = to;
                items.Add(copy);
            }
            result[section] = items;
        }
        return result;
    }

    private async Task<string> DeclareVariedTopologyAsync()
    {
        var vhost = await _client.CreateVhostAsync("src");
        await _client.DeclareExchangeAsync(vhost, "orders", "topic");
        await _client.DeclareExchangeAsync(vhost, "events", "fanout", @internal: true);
        await _client.DeclareExchangeAsync(vhost, "routes", "direct", arguments: new Dictionary<string, object> { ["purpose"] = "routing" });
        await _client.DeclareExchangeAsync(vhost, "lost", "fanout", durable: false, autoDelete: true);
        await _client.DeclareExchangeAsync(vhost, "match", "headers", arguments: new Dictionary<string, object> { ["alternate-exchange"] = "lost" });
        await _client.DeclareQueueAsync(vhost, "eu");
        await _client.DeclareQueueAsync(vhost, "scratch", new { durable = false, autoDelete = true, arguments = new { owner = "tests", version = 1.5 } });
        await _client.BindAsync(vhost, "orders", "eu", "orders.eu.*");
        await _client.BindAsync(vhost, "orders", "events", "orders.#", destinationType: "exchange");
        await _client.BindAsync(vhost, "events", "scratch");
        await _client.BindAsync(vhost, "match", "eu", arguments: new Dictionary<string, object> { ["x-match"] = "any", ["format"] = "pdf", ["urgent"] = true, ["level"] = 2 });
        await _client.BindAsync(vhost, "lost", "scratch");
        return vhost;
    }

    [Fact]
    public async Task Export_uses_RabbitMQs_field_names_and_writes_the_default_vhost_as_slash()
    {
        var vhost = await DeclareVariedTopologyAsync();

        var export = await ExportAsync();

        Assert.Contains(export["vhosts"]!.AsArray(), v => (string?)v!["name"] == "/");
        Assert.Contains(export["vhosts"]!.AsArray(), v => (string?)v!["name"] == vhost);
        var orders = export["exchanges"]!.AsArray().Single(x => (string?)x!["vhost"] == vhost && (string?)x["name"] == "orders")!.AsObject();
        Assert.Equal(["name", "vhost", "type", "durable", "auto_delete", "internal", "arguments"], orders.Select(p => p.Key));
        var scratch = export["queues"]!.AsArray().Single(x => (string?)x!["vhost"] == vhost && (string?)x["name"] == "scratch")!.AsObject();
        Assert.Equal(["name", "vhost", "durable", "auto_delete", "type", "arguments"], scratch.Select(p => p.Key));
        var binding = export["bindings"]!.AsArray().First(x => (string?)x!["vhost"] == vhost)!.AsObject();
        Assert.Equal(["source", "vhost", "destination", "destination_type", "routing_key", "arguments"], binding.Select(p => p.Key));
        Assert.DoesNotContain(export["exchanges"]!.AsArray(), x => ((string?)x!["name"])!.StartsWith("amq.", StringComparison.Ordinal) || (string?)x["name"] == "");
        Assert.Empty(export["users"]!.AsArray());
    }

    [Fact]
    public async Task An_exported_vhost_imported_under_another_name_exports_the_same_and_routes_the_same()
    {
        var source = await DeclareVariedTopologyAsync();
        var target = $"copy-{Guid.NewGuid():N}";

        var report = await ImportAsync(Retarget(await ExportAsync(), source, target));

        Assert.True((bool)report["applied"]!);
        Assert.Equal(0, (int)report["summary"]!["refused"]!);
        Assert.Equal(5 + 2 + 5 + 1, (int)report["summary"]!["created"]!); // exchanges, queues, bindings, the vhost
        var export = await ExportAsync();
        Assert.Equal(ItemsOf(export, source), ItemsOf(export, target));
        await _client.PublishAsync(target, "orders", "orders.eu.created", "via-topic-and-e2e");
        await _client.PublishAsync(target, "match", "", "via-headers", new { headers = new { urgent = true } });
        await _client.PublishAsync(target, "match", "", "via-alternate", new { headers = new { format = "zip" } });
        Assert.Equal(["via-topic-and-e2e", "via-headers"], (await _client.GetAsync(target, "eu", new { max = 10 })).Select(d => d.Payload));
        Assert.Equal(["via-topic-and-e2e", "via-alternate"], (await _client.GetAsync(target, "scratch", new { max = 10 })).Select(d => d.Payload));
    }

    [Fact]
    public async Task Importing_the_same_definitions_again_reports_everything_as_existed()
    {
        var source = await DeclareVariedTopologyAsync();
        var definitions = Retarget(await ExportAsync(), source, $"again-{Guid.NewGuid():N}");
        await ImportAsync(definitions);
        var before = await ExportAsync();

        var again = await ImportAsync(definitions);

        Assert.Equal(0, (int)again["summary"]!["created"]!);
        Assert.Equal(13, (int)again["summary"]!["existed"]!);
        Assert.All(again["bindings"]!.AsArray(), b => Assert.Equal("existed", (string?)b!["outcome"]));
        Assert.Equal(before.ToJsonString(), (await ExportAsync()).ToJsonString());
    }

    private static JsonObject WithRefusals(string vhost) => JsonNode.Parse($$$"""
        {
          "rabbit_version": "3.10.8",
          "users": [{"name": "guest", "password_hash": "x", "tags": ["administrator"]}],
          "vhosts": [{"name": "{{{vhost}}}", "limits": [], "metadata": {"description": "", "tags": []}}],
          "permissions": [{"user": "guest", "vhost": "{{{vhost}}}", "configure": ".*", "write": ".*", "read": ".*"}],
          "exchanges": [
            {"name": "ok", "vhost": "{{{vhost}}}", "type": "direct", "durable": true, "auto_delete": false, "internal": false, "arguments": {}},
            {"name": "delayed", "vhost": "{{{vhost}}}", "type": "x-delayed-message", "durable": true, "auto_delete": false, "internal": false, "arguments": {"x-delayed-type": "direct"}},
            {"name": "elsewhere", "vhost": "no-such-vhost", "type": "direct", "durable": true, "auto_delete": false, "internal": false, "arguments": {}}
          ],
          "queues": [
            {"name": "plain", "vhost": "{{{vhost}}}", "durable": true, "auto_delete": false, "arguments": {}},
            {"name": "quorum", "vhost": "{{{vhost}}}", "durable": true, "auto_delete": false, "type": "quorum", "arguments": {"x-queue-type": "quorum"}},
            {"name": "amq.reserved", "vhost": "{{{vhost}}}", "durable": true, "auto_delete": false, "arguments": {}}
          ],
          "bindings": [
            {"source": "ok", "vhost": "{{{vhost}}}", "destination": "plain", "destination_type": "queue", "routing_key": "k", "arguments": {}},
            {"source": "ok", "vhost": "{{{vhost}}}", "destination": "quorum", "destination_type": "queue", "routing_key": "k", "arguments": {}},
            {"source": "ok", "vhost": "{{{vhost}}}", "destination": "plain", "destination_type": "stream", "routing_key": "k", "arguments": {}}
          ]
        }
        """)!.AsObject();

    [Fact]
    public async Task Refused_items_are_reported_with_reasons_and_the_rest_is_imported()
    {
        var vhost = $"mixed-{Guid.NewGuid():N}";

        var report = await ImportAsync(WithRefusals(vhost));

        Assert.True((bool)report["applied"]!);
        string[] Outcomes(string section) => report[section]!.AsArray().Select(i => (string)i!["outcome"]!).ToArray();
        string Reason(string section, int index) => (string)report[section]![index]!["reason"]!;
        Assert.Equal(["created", "refused", "refused"], Outcomes("exchanges"));
        Assert.Contains("x-delayed-message", Reason("exchanges", 1));
        Assert.Equal("No vhost 'no-such-vhost'.", Reason("exchanges", 2));
        Assert.Equal(["created", "refused", "refused"], Outcomes("queues"));
        Assert.Contains("quorum", Reason("queues", 1));
        Assert.Contains("reserved", Reason("queues", 2));
        Assert.Equal(["created", "refused", "refused"], Outcomes("bindings"));
        Assert.Contains("No queue 'quorum'", Reason("bindings", 1));
        Assert.Contains("destination_type 'stream'", Reason("bindings", 2));
        Assert.Equal(["users", "permissions"], report["ignored"]!.AsArray().Select(i => (string)i!["section"]!));
        Assert.Equal(2, (int)report["summary"]!["ignored"]!);
        Assert.Equal(new ApiPublishResult(true, 1, false), await _client.PublishAsync(vhost, "ok", "k", "m"));
    }

    [Fact]
    public async Task All_or_nothing_refuses_the_file_with_a_problem_and_imports_nothing()
    {
        var vhost = $"strict-{Guid.NewGuid():N}";

        var problem = await ImportAsync(WithRefusals(vhost), "?allOrNothing=true", HttpStatusCode.UnprocessableEntity);

        Assert.Equal("urn:gateway:problem:definitions-refused", (string?)problem["type"]);
        Assert.Contains("6 item(s) were refused", (string?)problem["detail"]);
        Assert.False((bool)problem["report"]!["applied"]!);
        Assert.Equal("created", (string?)problem["report"]!["queues"]![0]!["outcome"]); // what would have happened
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync(Urls.Vhost(vhost))).StatusCode);
    }

    [Fact]
    public async Task A_dry_run_reports_and_changes_nothing()
    {
        var vhost = $"dry-{Guid.NewGuid():N}";
        var definitions = WithRefusals(vhost);

        var report = await ImportAsync(definitions, "?dryRun=true");

        Assert.False((bool)report["applied"]!);
        Assert.Equal("created", (string?)report["vhosts"]![0]!["outcome"]);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync(Urls.Vhost(vhost))).StatusCode);
        Assert.True((bool)(await ImportAsync(definitions))["applied"]!);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync(Urls.Vhost(vhost))).StatusCode);
    }

    [Fact]
    public async Task RabbitMQs_default_vhost_slash_is_imported_into_default()
    {
        var name = $"from-slash-{Guid.NewGuid():N}";
        var definitions = JsonNode.Parse($$$"""
            {"vhosts": [{"name": "/"}],
             "queues": [{"name": "{{{name}}}", "vhost": "/", "durable": false, "auto_delete": false, "arguments": {}}]}
            """)!;

        var report = await ImportAsync(definitions);

        Assert.Equal("default", (string?)report["vhosts"]![0]!["name"]);
        Assert.Equal("existed", (string?)report["vhosts"]![0]!["outcome"]);
        Assert.Equal("default", (string?)report["queues"]![0]!["vhost"]);
        Assert.Equal(name, (await _client.GetQueueAsync("default", name)).Name);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("{\"queues\": [{\"vhost\": \"/\"}]}")]
    [InlineData("{\"exchanges\": [{\"name\": \"x\", \"vhost\": \"/\", \"type\": \"direct\", \"durable\": \"yes\"}]}")]
    public async Task A_body_that_is_not_definitions_answers_400(string body)
    {
        var response = await _client.SendRawJsonAsync(HttpMethod.Post, "/api/definitions", body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }
}
