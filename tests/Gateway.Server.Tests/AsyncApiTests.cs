using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>
/// openapi/asyncapi.yaml is kept true: its examples are valid for their messages, every frame the server sends in a
/// session that exercises each answer is valid (and carries nothing undocumented), the client frames the server
/// accepts are valid, and client frames the document forbids are refused by the server.
/// </summary>
public sealed class AsyncApiTests(SmallMessageLimitGateway gateway) : IClassFixture<SmallMessageLimitGateway>
{
    private static readonly AsyncApiDocument Document = AsyncApiDocument.Load();
    private readonly HttpClient _client = gateway.Factory.CreateClient();

    private static IEnumerable<(string Name, JsonObject Message)> Messages() =>
        ((JsonObject)Document.Root["components"]!["messages"]!).Select(kv => (kv.Key, (JsonObject)kv.Value!));

    private static HashSet<string> OperationMessages(string operation) =>
        ((JsonArray)Document.Root["operations"]![operation]!["messages"]!)
        .Select(m => m!["$ref"]!.GetValue<string>().Split('/')[^1]).ToHashSet(StringComparer.Ordinal);

    [Fact]
    public void Every_message_has_examples_that_are_valid_for_it_and_carry_its_type()
    {
        var problems = new List<string>();
        foreach (var (name, message) in Messages())
        {
            var examples = message["examples"] as JsonArray;
            if (examples is null || examples.Count == 0) problems.Add($"{name}: no example");
            foreach (var example in examples ?? [])
            {
                // A binary message's JSON is its header; a text message's is its payload.
                var payload = JsonSerializer.SerializeToElement(message["headers"] is null ? example!["payload"] : example!["headers"]);
                if (payload.Type() != Document.TypeOf(name)) problems.Add($"{name}: example {payload.GetRawText()} has another type");
                problems.AddRange(Document.Errors(name, payload, closed: true).Select(e => $"{name}: example {payload.GetRawText()}: {e}"));
            }
        }

        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void The_send_and_receive_operations_cover_every_message_once()
    {
        var send = OperationMessages("sendToGateway");
        var receive = OperationMessages("receiveFromGateway");

        Assert.Empty(send.Intersect(receive));
        Assert.Equal(Document.MessageNames.Order(StringComparer.Ordinal), send.Union(receive).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// A session that makes the server send every kind of frame (each answer, each error status a frame can cause,
    /// deliveries with text, base64 and full properties); every one must be valid for the message of its type.
    /// </summary>
    [Fact]
    public async Task Every_frame_the_server_sends_is_valid_for_the_document()
    {
        var vhost = await _client.CreateVhostAsync("asyncapi");
        await _client.DeclareQueueAsync(vhost, "q");
        await _client.DeclareExchangeAsync(vhost, "inner", "fanout", @internal: true);
        await _client.PublishAsync(vhost, "amq.default", "q", "text", new
        {
            contentType = "text/plain", contentEncoding = "identity", headers = new { n = 1, s = "x", f = 1.5, b = true }, deliveryMode = 2,
            priority = 3, correlationId = "c", replyTo = "r", expiration = "60000", messageId = "m", timestamp = 1_700_000_000, type = "t",
            userId = "guest", appId = "a",
        });
        await _client.SendOkAsync(HttpMethod.Post, Urls.Publish(vhost, "amq.default"),
            new { routingKey = "q", payload = Convert.ToBase64String([0xff, 0x00]), payloadEncoding = "base64" }, HttpStatusCode.OK);
        var seen = new List<JsonElement>();
        await using var socket = await TestServerSockets.ConnectAsync(gateway.Factory, vhost);

        async Task<JsonElement> Answer(object frame)
        {
            var answer = await socket.RequestAsync(frame);
            seen.Add(answer);
            return answer;
        }

        await Answer(new { type = "subscribe", id = "s", queue = "q", prefetch = 10 });
        var delivered = await socket.DeliveriesAsync(2);
        seen.AddRange(delivered);
        await socket.AckAsync(delivered[1], multiple: true);
        await Answer(new { type = "ping", id = "hb" });
        await Answer(new { type = "ping" });
        await Answer(new { type = "publish", id = "p1", exchange = "amq.default", routingKey = "nobody", payload = "x" });
        await Answer(new { type = "publish", routingKey = "nobody", payload = "x" });
        await Answer(new { type = "publish", id = "p2", exchange = "amq.default", routingKey = "nobody", payload = "x", mandatory = true });
        await Answer(new { type = "publish", id = "p3", exchange = "nope", routingKey = "", payload = "x" });
        await Answer(new { type = "publish", id = "p4", exchange = "inner", routingKey = "", payload = "x" });
        await Answer(new { type = "publish", id = "p5", routingKey = "q", payload = new string('x', SmallMessageLimitGateway.MaxMessageBytes + 1) });
        await Answer(new { type = "subscribe", id = "s", queue = "q" });
        await Answer(new { type = "subscribe", id = "t", queue = "missing" });
        await Answer(new { type = "ack", deliveryTag = "AAAA" });
        await Answer(new { type = "declare", id = "d", exclusive = true });
        await Answer(new { type = "declare", queue = "named", arguments = new { x_unused = 1 } });
        seen.Add(await socket.RequestAsync(new { type = "cancel", id = "s" }));
        await socket.SendTextAsync("not json");
        seen.Add(await socket.ReceiveAsync());
        await _client.PublishToQueueAsync(vhost, "q", "raw");
        await Answer(new { type = "subscribe", id = "gone", queue = "q", payloadFormat = "binary" });
        var binary = await socket.ReceiveMessageAsync();
        Assert.NotNull(binary.Payload);
        await socket.AckAsync(binary.Frame);
        await _client.SendOkAsync(HttpMethod.Delete, Urls.Queue(vhost, "q"), body: null, HttpStatusCode.NoContent);
        seen.Add(await socket.ExpectAsync("cancelled"));

        foreach (var frame in seen) Document.AssertValid(frame, closed: true);
        Document.AssertValid(binary.Frame, closed: true, message: "binaryDelivery");
        // suspended and restored need a backend that loses consumers: SubscriptionRestoreTests checks them on RabbitMQ.
        Assert.Equal(OperationMessages("receiveFromGateway").Except(["suspended", "restored"]).Order(StringComparer.Ordinal),
            seen.Select(f => f.Type()!).Append("binaryDelivery").Distinct().Order(StringComparer.Ordinal));
        var statuses = seen.Where(f => f.Type() == "error").Select(f => f.GetProperty("status").GetInt32()).Distinct().Order();
        Assert.Equal([400, 403, 404, 409, 413, 422], statuses);
        Assert.Contains(seen, f => f.Type() == "delivery" && f.Str("payloadEncoding") == "base64");
        Assert.Contains(seen, f => f.Type() == "cancelled" && f.Str("reason") == "queue-deleted");
        Assert.Contains(seen, f => f.Type() == "cancelled" && f.Str("reason") == "client");
    }

    /// <summary>Client frames the server accepts (the smallest and the fullest of each type) are valid for the document.</summary>
    [Fact]
    public async Task Every_client_frame_the_server_accepts_is_valid_for_the_document()
    {
        var vhost = await _client.CreateVhostAsync("asyncapi");
        await _client.DeclareQueueAsync(vhost, "q");
        for (var i = 0; i < 4; i++) await _client.PublishToQueueAsync(vhost, "q", $"m{i}");
        await using var socket = await TestServerSockets.ConnectAsync(gateway.Factory, vhost);
        var accepted = new List<JsonElement>();

        // The frame, then either its answer (a nack that requeues is answered by the redelivery, which may come before
        // any pong) or, when it has none, a ping barrier.
        async Task<JsonElement> Accepted(object frame, string? answer)
        {
            var element = JsonSerializer.SerializeToElement(frame, SocketClient.Json);
            await socket.SendAsync(frame);
            accepted.Add(element);
            if (answer is null)
            {
                await socket.PingAsync();
                return default;
            }
            var received = await socket.ReceiveAsync();
            Assert.Equal(answer, received.Type());
            return received;
        }

        await Accepted(new { type = "subscribe", id = "a", queue = "q" }, "subscribed");
        var deliveries = await socket.DeliveriesAsync(4);
        await Accepted(new { type = "ack", deliveryTag = deliveries[0].Str("deliveryTag") }, null);
        await Accepted(new { type = "ack", deliveryTag = deliveries[1].Str("deliveryTag"), multiple = true }, null);
        await Accepted(new { type = "nack", deliveryTag = deliveries[2].Str("deliveryTag"), multiple = false, requeue = false }, null);
        var requeued = await Accepted(new { type = "nack", deliveryTag = deliveries[3].Str("deliveryTag") }, "delivery");
        await Accepted(new { type = "nack", deliveryTag = requeued.Str("deliveryTag"), requeue = true, delayMilliseconds = 0 }, "delivery"); // requeued again, with no delay
        await Accepted(new { type = "cancel", id = "a" }, "cancelled");
        await Accepted(new { type = "subscribe", id = "b", queue = "q", prefetch = 10_000, ackMode = "auto" }, "subscribed");
        await socket.ExpectAsync("delivery");
        await Accepted(new { type = "ping" }, "pong");
        await Accepted(new { type = "ping", id = "x" }, "pong");
        await Accepted(new { type = "declare" }, "declared");
        await Accepted(new { type = "declare", id = "d", queue = "declared-here", durable = false, exclusive = true, autoDelete = true,
            arguments = new Dictionary<string, object> { ["x-max-length"] = 5 } }, "declared");
        await Accepted(new { type = "publish", payload = "" }, "confirm");
        await Accepted(new
        {
            type = "publish", id = "p", exchange = "amq.default", routingKey = "elsewhere", payload = "AA==", payloadEncoding = "base64",
            properties = new { contentType = "application/octet-stream", deliveryMode = 1, headers = new { k = "v" } }, mandatory = false,
        }, "confirm");

        await Accepted(new { type = "subscribe", id = "c", queue = "q", payloadFormat = "binary" }, "subscribed");
        object binaryHeader = new
        {
            type = "publish", id = "raw", exchange = "amq.default", routingKey = "elsewhere", properties = new { contentType = "image/png" }, mandatory = false,
        };
        await socket.SendBinaryFrameAsync(binaryHeader, [0x89, 0x50, 0x4e, 0x47]);
        Assert.Equal("confirm", (await socket.ReceiveAsync()).Type());

        foreach (var frame in accepted) Document.AssertValid(frame, closed: true);
        Document.AssertValid(JsonSerializer.SerializeToElement(binaryHeader, SocketClient.Json), closed: true, message: "binaryPublish");
    }

    /// <summary>Frames the document calls invalid are refused by the server with an error 400 (the document is not looser than the server).</summary>
    [Theory]
    [InlineData("""{"type":"subscribe","id":"s","queue":"q","prefetch":0}""")]
    [InlineData("""{"type":"subscribe","id":"s","queue":"q","prefetch":10001}""")]
    [InlineData("""{"type":"subscribe","id":"s","queue":"q","ackMode":"sometimes"}""")]
    [InlineData("""{"type":"subscribe","id":"","queue":"q"}""")]
    [InlineData("""{"type":"subscribe","id":"s"}""")]
    [InlineData("""{"type":"subscribe","id":"s","queue":"q","extra":1}""")]
    [InlineData("""{"type":"cancel"}""")]
    [InlineData("""{"type":"ack"}""")]
    [InlineData("""{"type":"ack","deliveryTag":"t","multiple":"yes"}""")]
    [InlineData("""{"type":"nack","deliveryTag":"t","requeue":1}""")]
    [InlineData("""{"type":"nack","deliveryTag":"t","delayMilliseconds":-1}""")]
    [InlineData("""{"type":"publish","routingKey":"q"}""")]
    [InlineData("""{"type":"publish","payload":"x","payloadEncoding":"hex"}""")]
    [InlineData("""{"type":"publish","payload":"x","properties":{"deliveryMode":3}}""")]
    [InlineData("""{"type":"ping","id":5}""")]
    [InlineData("""{"type":"subscribe","id":"s","queue":"q","payloadFormat":"text"}""")]
    public async Task A_frame_the_document_forbids_is_refused_by_the_server(string text)
    {
        var frame = JsonDocument.Parse(text).RootElement;
        var vhost = await _client.CreateVhostAsync("asyncapi");
        await _client.DeclareQueueAsync(vhost, "q");
        await using var socket = await TestServerSockets.ConnectAsync(gateway.Factory, vhost);

        var schemaErrors = Document.Errors(frame.Type()!, frame, closed: false);
        await socket.SendTextAsync(text);
        var answer = await socket.ReceiveAsync();

        Assert.NotEmpty(schemaErrors);
        Assert.True(answer.Type() == "error" && answer.GetProperty("status").GetInt32() == 400, $"Expected an error 400, got {answer.GetRawText()}");
    }
}
