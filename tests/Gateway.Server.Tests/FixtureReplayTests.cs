using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Gateway.Server.Tests;

/// <summary>
/// Replays the routing scenarios recorded from RabbitMQ 3.10.8 (<c>Fixtures/rabbitmq-routing-sample.json</c>, a copy
/// of <c>shared/fixtures</c>) through the HTTP API and compares what Gateway does with what RabbitMQ did: each
/// publish's routed flag, the success or failure of every other step, and the payloads left in every queue.
/// </summary>
/// <remarks>Runs on both backends: <see cref="FixtureReplayTests"/> (embedded) and <see cref="FixtureReplayTestsOnRabbitMq"/>.</remarks>
public abstract class FixtureReplayTests<TFactory>(TFactory factory) : IClassFixture<TFactory> where TFactory : GatewayFactory
{
    protected const string FixtureName = "rabbitmq-routing-sample.json";

    private readonly HttpClient _client = factory.CreateClient();

    /// <summary>The recording, loaded from the copy next to the test assembly (so a clean clone needs nothing else).</summary>
    protected static readonly Lazy<JsonElement> Recording = new(() =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", FixtureName))).RootElement.Clone());

    public static TheoryData<string> ScenarioIds => new(Recording.Value.GetProperty("scenarios").EnumerateArray().Select(s => s.GetProperty("id").GetString()!));

    [Theory]
    [MemberData(nameof(ScenarioIds))]
    public async Task A_recorded_RabbitMQ_scenario_replays_with_the_same_outcome(string id)
    {
        var scenario = Recording.Value.GetProperty("scenarios").EnumerateArray().Single(s => s.GetProperty("id").GetString() == id);
        var expected = scenario.GetProperty("expected");
        var vhost = await _client.CreateVhostAsync("replay");
        await DeclareAsync(vhost, scenario.GetProperty("declarations"));

        var differences = new List<string>();
        var steps = scenario.GetProperty("steps").EnumerateArray().ToList();
        var outcomes = expected.GetProperty("steps").EnumerateArray().ToList();
        for (var i = 0; i < steps.Count; i++)
        {
            if (await RunStepAsync(vhost, steps[i], outcomes[i]) is { } difference)
                differences.Add($"step {i} {steps[i].GetRawText()}: {difference}");
        }
        differences.AddRange(await CompareQueuesAsync(vhost, expected.GetProperty("queues")));

        Assert.True(differences.Count == 0,
            $"Scenario '{id}' ({scenario.GetProperty("description").GetString()}) differs from RabbitMQ:\n" + string.Join("\n", differences));
    }

    private async Task DeclareAsync(string vhost, JsonElement declarations)
    {
        foreach (var x in declarations.GetProperty("exchanges").EnumerateArray())
            await ExpectSuccessAsync(await DeclareExchangeAsync(vhost, x), $"declaring exchange {x.GetRawText()}");
        foreach (var q in declarations.GetProperty("queues").EnumerateArray())
        {
            var body = Json(w =>
            {
                w.WriteBoolean("durable", q.GetProperty("durable").GetBoolean());
                w.WriteBoolean("autoDelete", q.GetProperty("auto_delete").GetBoolean());
                w.WritePropertyName("arguments");
                q.GetProperty("arguments").WriteTo(w);
            });
            await ExpectSuccessAsync(await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Queue(vhost, q.GetProperty("name").GetString()!), body),
                $"declaring queue {q.GetRawText()}");
        }
        foreach (var b in declarations.GetProperty("bindings").EnumerateArray())
            await ExpectSuccessAsync(await BindAsync(vhost, b), $"declaring binding {b.GetRawText()}");
    }

    /// <summary>Runs one step; returns how its outcome differs from RabbitMQ's, or null when it agrees.</summary>
    private async Task<string?> RunStepAsync(string vhost, JsonElement step, JsonElement expected)
    {
        var op = step.GetProperty("op").GetString();
        if (op == "publish")
        {
            var response = await PublishAsync(vhost, step);
            if (expected.TryGetProperty("ok", out var ok) && !ok.GetBoolean())
                return response.IsSuccessStatusCode ? $"RabbitMQ refused the publish, Gateway answered {await DescribeAsync(response)}" : null;
            if (!response.IsSuccessStatusCode) return $"RabbitMQ accepted the publish, Gateway answered {await DescribeAsync(response)}";
            var routed = (await response.Content.ReadFromJsonAsync<ApiPublishResult>(GatewayFactory.Json))!.Routed;
            var expectedRouted = expected.GetProperty("routed").GetBoolean();
            return routed == expectedRouted ? null : $"RabbitMQ routed={expectedRouted}, Gateway routed={routed}";
        }

        var (succeeded, answer) = op switch
        {
            "bind" => await OutcomeAsync(await BindAsync(vhost, step)),
            "unbind" => await UnbindAsync(vhost, step),
            "declare_exchange" => await OutcomeAsync(await DeclareExchangeAsync(vhost, step)),
            "delete_queue" => await OutcomeAsync(await _client.DeleteAsync(Urls.Queue(vhost, step.GetProperty("name").GetString()!))),
            "delete_exchange" => await OutcomeAsync(await _client.DeleteAsync(Urls.Exchange(vhost, ApiExchange(step.GetProperty("name"))))),
            _ => throw new InvalidOperationException($"The replay does not know step '{op}'; teach it."),
        };
        var expectedOk = expected.GetProperty("ok").GetBoolean();
        return succeeded == expectedOk ? null : $"RabbitMQ {(expectedOk ? "accepted" : "refused")} it, Gateway {(succeeded ? "accepted" : "refused")} it: {answer}";
    }

    private async Task<List<string>> CompareQueuesAsync(string vhost, JsonElement expectedQueues)
    {
        var differences = new List<string>();
        var existing = (await _client.GetFromJsonAsync<List<ApiQueue>>(Urls.Queues(vhost), GatewayFactory.Json))!.Select(q => q.Name).ToHashSet();
        var expectedNames = expectedQueues.EnumerateObject().Select(p => p.Name).ToHashSet();
        if (!existing.SetEquals(expectedNames))
            differences.Add($"queues at the end: RabbitMQ [{string.Join(", ", expectedNames.Order())}], Gateway [{string.Join(", ", existing.Order())}]");
        foreach (var name in existing.Order(StringComparer.Ordinal))
        {
            var drained = (await _client.GetAsync(vhost, name, new { max = 1000, ackMode = "auto" })).Select(d => d.Payload).ToList();
            var want = expectedQueues.TryGetProperty(name, out var payloads) ? payloads.EnumerateArray().Select(p => p.GetString()!).ToList() : [];
            if (!drained.SequenceEqual(want))
                differences.Add($"queue '{name}': RabbitMQ held [{string.Join(", ", want)}], Gateway held [{string.Join(", ", drained)}]");
        }
        return differences;
    }

    private Task<HttpResponseMessage> DeclareExchangeAsync(string vhost, JsonElement x) =>
        _client.SendRawJsonAsync(HttpMethod.Put, Urls.Exchange(vhost, ApiExchange(x.GetProperty("name"))), Json(w =>
        {
            w.WriteString("type", x.GetProperty("type").GetString());
            w.WriteBoolean("durable", x.GetProperty("durable").GetBoolean());
            w.WriteBoolean("autoDelete", x.GetProperty("auto_delete").GetBoolean());
            w.WriteBoolean("internal", x.GetProperty("internal").GetBoolean());
            w.WritePropertyName("arguments");
            x.GetProperty("arguments").WriteTo(w);
        }));

    private Task<HttpResponseMessage> BindAsync(string vhost, JsonElement b) =>
        _client.SendRawJsonAsync(HttpMethod.Post, Urls.Bindings(vhost), Json(w =>
        {
            var type = b.GetProperty("destination_type").GetString()!;
            w.WriteString("source", ApiExchange(b.GetProperty("source")));
            w.WriteString("destination", type == "exchange" ? ApiExchange(b.GetProperty("destination")) : b.GetProperty("destination").GetString());
            w.WriteString("destinationType", type);
            w.WriteString("routingKey", b.GetProperty("routing_key").GetString());
            w.WritePropertyName("arguments");
            b.GetProperty("arguments").WriteTo(w); // raw, so that 1, 1.0, "1" and true keep their types
        }));

    private Task<HttpResponseMessage> PublishAsync(string vhost, JsonElement step) =>
        _client.SendRawJsonAsync(HttpMethod.Post, Urls.Publish(vhost, ApiExchange(step.GetProperty("exchange"))), Json(w =>
        {
            w.WriteString("routingKey", step.GetProperty("routing_key").GetString());
            w.WriteString("payload", step.GetProperty("payload").GetString());
            var headers = step.GetProperty("headers");
            if (headers.ValueKind == JsonValueKind.Null) return; // no headers property at all
            w.WriteStartObject("properties");
            w.WritePropertyName("headers");
            headers.WriteTo(w);
            w.WriteEndObject();
        }));

    /// <summary>
    /// Unbinds the binding whose definition matches the step's, found in the binding list. Like RabbitMQ, fails when
    /// there is no such binding, and for the default exchange (whose bindings are implicit and cannot be removed).
    /// </summary>
    private async Task<(bool Succeeded, string Answer)> UnbindAsync(string vhost, JsonElement step)
    {
        var source = step.GetProperty("source").GetString()!;
        if (source.Length == 0) return (false, "the default exchange's bindings cannot be removed");
        var type = step.GetProperty("destination_type").GetString()!;
        var destination = type == "exchange" ? ApiExchange(step.GetProperty("destination")) : step.GetProperty("destination").GetString()!;
        var key = step.GetProperty("routing_key").GetString()!;
        var arguments = Canonical(step.GetProperty("arguments"));
        var match = (await _client.ListBindingsAsync(vhost)).FirstOrDefault(b =>
            b.Source == source && b.Destination == destination && b.DestinationType == type && b.RoutingKey == key && Canonical(b.Arguments) == arguments);
        if (match is null) return (false, "no such binding");
        return await OutcomeAsync(await _client.DeleteAsync(Urls.Binding(vhost, match.Id)));
    }

    private static async Task<(bool Succeeded, string Answer)> OutcomeAsync(HttpResponseMessage response) =>
        (response.IsSuccessStatusCode, await DescribeAsync(response));

    private static async Task<string> DescribeAsync(HttpResponseMessage response) =>
        $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";

    private static async Task ExpectSuccessAsync(HttpResponseMessage response, string what)
    {
        if (!response.IsSuccessStatusCode) Assert.Fail($"RabbitMQ accepted {what}; Gateway answered {await DescribeAsync(response)}");
    }

    /// <summary>The API's name for a recorded exchange name ("" is the default exchange).</summary>
    private static string ApiExchange(JsonElement name) => name.GetString() is { Length: > 0 } s ? s : "amq.default";

    private static string Json(Action<Utf8JsonWriter> writeProperties)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writeProperties(writer);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// A type-preserving canonical text of a JSON value (object keys sorted): integers and floats differ even when
    /// equal in value (1 vs 1.0), as AMQP longs and doubles do; number spelling does not matter (1.50 is 1.5).
    /// </summary>
    private static string Canonical(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "{" + string.Join(",", value.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal)
            .Select(p => JsonSerializer.Serialize(p.Name) + ":" + Canonical(p.Value))) + "}",
        JsonValueKind.Array => "[" + string.Join(",", value.EnumerateArray().Select(Canonical)) + "]",
        JsonValueKind.Number when value.GetRawText().AsSpan().IndexOfAny(".eE") < 0 && value.TryGetInt64(out var l) =>
            "L" + l.ToString(CultureInfo.InvariantCulture),
        JsonValueKind.Number => "D" + value.GetDouble().ToString("R", CultureInfo.InvariantCulture),
        JsonValueKind.String => JsonSerializer.Serialize(value.GetString()),
        _ => value.GetRawText(),
    };
}

/// <summary>The recorded scenarios on the embedded engine, and checks of the recording itself.</summary>
public sealed class FixtureReplayTests(GatewayFactory factory) : FixtureReplayTests<GatewayFactory>(factory)
{
    [Fact]
    public void The_fixture_copy_matches_the_shared_recording()
    {
        // The shared folder sits beside the repository in the workspace; a clean clone has only the copy, which then
        // is the recording and there is nothing to compare it with.
        var shared = Path.GetFullPath(Path.Combine(RepositoryPaths.Root, "..", "shared", "fixtures", FixtureName));
        if (!File.Exists(shared)) return;

        var copy = Path.Combine(AppContext.BaseDirectory, "Fixtures", FixtureName);

        Assert.True(File.ReadAllBytes(shared).AsSpan().SequenceEqual(File.ReadAllBytes(copy)),
            $"{copy} differs from {shared}: copy the shared fixture into tests/Gateway.Server.Tests/Fixtures/ again.");
    }

    [Fact]
    public void The_recording_has_scenarios_with_steps()
    {
        var scenarios = Recording.Value.GetProperty("scenarios").EnumerateArray().ToList();

        Assert.NotEmpty(scenarios);
        Assert.All(scenarios, s => Assert.Equal(s.GetProperty("steps").GetArrayLength(), s.GetProperty("expected").GetProperty("steps").GetArrayLength()));
    }
}

/// <summary>The recorded scenarios on the RabbitMQ backend: a RabbitMQ cluster must route them as the recording's RabbitMQ did.</summary>
public sealed class FixtureReplayTestsOnRabbitMq(RabbitMqGateway factory) : FixtureReplayTests<RabbitMqGateway>(factory);
