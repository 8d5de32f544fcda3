// WebSocket consume benchmark against a running gateway (HTTP only; no project references).
//
//   dotnet run -c Release --project bench/Gateway.LoadClient -- http://127.0.0.1:8080 [count=500000] [prefetch=1000] [ack=manual|auto] [transient|persistent]
//
// Fills queue "ws-bench" with `count` transient 16-byte messages (batch publish), then one WebSocket subscription
// (gateway.v1.json) consumes them; manual mode acks with multiple=true every prefetch/2 deliveries. "persistent" fills
// the durable queue "ws-bench-durable" (a quorum queue on the RabbitMQ backend) with persistent messages instead; the
// clock starts after the fill either way. Prints
// RESULT|label|msg_per_s|value|msg/s like ../shared/anchors/rabbitmq. GATEWAY_KEY=<key> authenticates (authentication is on
// by default: the key the server printed at first start, or its Gateway:Auth:BootstrapKey).
using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

//   ... -- fanout http://127.0.0.1:8080 [messages=100000]
//   ... -- latency http://127.0.0.1:8080 [rate=10000] [seconds=10] [raw|httpclient|eventloop|eventloop-ws]
//   ... -- latency-floor http://127.0.0.1:8081 [rate=10000] [seconds=10] [raw|eventloop]
//       (the same publishes against bench/Gateway.Baseline, which answers the publish path trivially: the floor)
//   ... -- idle http://127.0.0.1:8080 [subscriptions=10000] <server pid>
//   ... -- webhook http://127.0.0.1:8080 [messages=20000] [concurrency=1,32]
//       (start the gateway with Gateway__Webhooks__AllowedNetworks__0=127.0.0.1/32: the receiver listens on loopback)
if (args.Length > 0 && args[0] == "webhook")
{
    var target = args[1].TrimEnd('/');
    var levels = (args.Length > 3 ? args[3] : "1,32").Split(',').Select(int.Parse).ToArray();
    await WebhookScenario.RunAsync(new HttpClient { BaseAddress = new Uri(target) }, args.Length > 2 ? int.Parse(args[2]) : 20_000, levels);
    return;
}
if (args.Length > 0 && args[0] is "fanout" or "latency" or "latency-floor" or "idle")
{
    var target = args[1].TrimEnd('/');
    var client = Scenarios.Client(target);
    switch (args[0])
    {
        case "fanout": await Scenarios.FanoutAsync(client, target, args.Length > 2 ? int.Parse(args[2]) : 100_000); break;
        case "latency" or "latency-floor":
            await Scenarios.LatencyAsync(client, target, args.Length > 2 ? int.Parse(args[2]) : 10_000, args.Length > 3 ? int.Parse(args[3]) : 10,
                args.Length > 4 ? args[4] : "raw", consume: args[0] == "latency");
            break;
        default: await Scenarios.IdleAsync(client, target, int.Parse(args[2]), int.Parse(args[3])); break;
    }
    return;
}
var baseUrl = args.Length > 0 ? args[0].TrimEnd('/') : "http://127.0.0.1:8080";
var count = args.Length > 1 ? int.Parse(args[1]) : 500_000;
var prefetch = args.Length > 2 ? int.Parse(args[2]) : 1000;
var manual = (args.Length > 3 ? args[3] : "manual") == "manual";
var persistent = (args.Length > 4 ? args[4] : "transient") == "persistent";
var http = Scenarios.Client(baseUrl);
var queue = persistent ? "ws-bench-durable" : "ws-bench";

await http.DeleteAsync($"/api/vhosts/default/queues/{queue}");
(await http.PutAsJsonAsync($"/api/vhosts/default/queues/{queue}", new { durable = persistent })).EnsureSuccessStatusCode();
var batch = new
{
    messages = Enumerable.Range(0, 1000)
        .Select(_ => persistent
            ? (object)new { routingKey = queue, payload = "0123456789abcdef", properties = new { deliveryMode = 2 } }
            : new { routingKey = queue, payload = "0123456789abcdef" }).ToArray(),
};
var filling = Stopwatch.StartNew();
var fills = new List<Task>();
for (var i = 0; i < count; i += 1000)
{
    fills.Add(http.PostAsJsonAsync("/api/vhosts/default/exchanges/amq.default/publish/batch", batch).ContinueWith(t => t.Result.EnsureSuccessStatusCode()));
    if (fills.Count == 8) { await Task.WhenAll(fills); fills.Clear(); }
}
await Task.WhenAll(fills);
Console.WriteLine($"# filled {queue} with {count:N0} {(persistent ? "persistent" : "transient")} messages in {filling.Elapsed.TotalSeconds:F1} s");

using var socket = await Scenarios.ConnectAsync(baseUrl);
async Task Send(string frame) => await socket.SendAsync(Encoding.UTF8.GetBytes(frame), WebSocketMessageType.Text, true, default);
await Send($$"""{"type":"subscribe","id":"bench","queue":"{{queue}}","prefetch":{{prefetch}},"ackMode":"{{(manual ? "manual" : "auto")}}"}""");

var buffer = new byte[1 << 20];
var received = 0;
var sinceAck = 0;
var clock = Stopwatch.StartNew();
while (received < count)
{
    var result = await socket.ReceiveAsync(buffer.AsMemory(), default);
    var length = result.Count;
    while (!result.EndOfMessage) { result = await socket.ReceiveAsync(buffer.AsMemory(length), default); length += result.Count; }
    // The client must not be the bottleneck on a shared 2-core machine: recognize deliveries by their prefix and
    // parse a frame only when its tag is needed for an ack.
    var frame = buffer.AsSpan(0, length);
    if (!frame.StartsWith("{\"type\":\"delivery\""u8)) continue;
    received++;
    if (manual && ++sinceAck >= Math.Max(1, prefetch / 2))
    {
        var tag = JsonDocument.Parse(buffer.AsMemory(0, length)).RootElement.GetProperty("deliveryTag").GetString();
        await Send($$"""{"type":"ack","deliveryTag":"{{tag}}","multiple":true}""");
        sinceAck = 0;
    }
}
var rate = received / clock.Elapsed.TotalSeconds;
var label = (manual ? $"ws_consume_manualack_prefetch{prefetch}_16B" : "ws_consume_autoack_16B") + (persistent ? "_persistent" : "");
Console.WriteLine($"# consumed {received:N0} in {clock.Elapsed.TotalSeconds:F2} s");
Console.WriteLine($"RESULT|{label}|msg_per_s|{rate:F1}|msg/s");
await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, default);
if (persistent) await http.DeleteAsync($"/api/vhosts/default/queues/{queue}");
