using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;

/// <summary>The fan-out, latency and idle-subscription scenarios of issue 4 (the consume scenario is Program.cs).</summary>
internal static class Scenarios
{
    /// <summary>The API key from GATEWAY_KEY (authentication is on by default), sent with every request and socket.</summary>
    public static string? Key { get; } = Environment.GetEnvironmentVariable("GATEWAY_KEY");

    /// <summary>An HTTP client of the gateway that sends <see cref="Key"/>.</summary>
    public static HttpClient Client(string baseUrl)
    {
        var client = new HttpClient { BaseAddress = new Uri(baseUrl) };
        if (Key is not null) client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Key);
        return client;
    }

    public static async Task<ClientWebSocket> ConnectAsync(string baseUrl)
    {
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("gateway.v1.json");
        if (Key is not null) socket.Options.SetRequestHeader("Authorization", "Bearer " + Key);
        await socket.ConnectAsync(new Uri(baseUrl.Replace("http", "ws") + "/api/vhosts/default/ws"), default);
        return socket;
    }

    private static readonly System.Net.Http.Headers.MediaTypeHeaderValue Json = new("application/json");

    private static Task SendAsync(ClientWebSocket socket, string frame) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(frame), WebSocketMessageType.Text, true, default);

    // Counts delivery frames on one socket until `until` is reached or cancelled; returns the count.
    private static async Task<long> CountDeliveriesAsync(ClientWebSocket socket, long until, Action<ReadOnlyMemory<byte>>? each = null)
    {
        var buffer = new byte[1 << 20];
        long received = 0;
        while (received < until)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(), default);
            var length = result.Count;
            while (!result.EndOfMessage) { result = await socket.ReceiveAsync(buffer.AsMemory(length), default); length += result.Count; }
            if (!buffer.AsSpan(0, length).StartsWith("{\"type\":\"delivery\""u8)) continue;
            received++;
            each?.Invoke(buffer.AsMemory(0, length));
        }
        return received;
    }

    /// <summary>One fanout exchange to 10 queues, one auto-ack WebSocket consumer each; publishes in batches of 1000.</summary>
    public static async Task FanoutAsync(HttpClient http, string baseUrl, int messages)
    {
        (await http.PutAsJsonAsync("/api/vhosts/default/exchanges/fan-bench", new { type = "fanout", durable = false })).EnsureSuccessStatusCode();
        var sockets = new List<ClientWebSocket>();
        for (var i = 0; i < 10; i++)
        {
            await http.DeleteAsync($"/api/vhosts/default/queues/fan{i}");
            (await http.PutAsJsonAsync($"/api/vhosts/default/queues/fan{i}", new { durable = false })).EnsureSuccessStatusCode();
            (await http.PostAsJsonAsync("/api/vhosts/default/bindings", new { source = "fan-bench", destination = $"fan{i}" })).EnsureSuccessStatusCode();
            var socket = await ConnectAsync(baseUrl);
            await SendAsync(socket, $$"""{"type":"subscribe","id":"f","queue":"fan{{i}}","prefetch":1000,"ackMode":"auto"}""");
            sockets.Add(socket);
        }
        var clock = Stopwatch.StartNew();
        var consumers = sockets.Select(s => Task.Run(() => CountDeliveriesAsync(s, messages))).ToArray();
        var batch = new { messages = Enumerable.Range(0, 1000).Select(_ => new { routingKey = "", payload = "0123456789abcdef" }).ToArray() };
        var publishing = new List<Task>();
        for (var sent = 0; sent < messages; sent += 1000)
        {
            publishing.Add(http.PostAsJsonAsync("/api/vhosts/default/exchanges/fan-bench/publish/batch", batch));
            if (publishing.Count == 4) { await Task.WhenAll(publishing); publishing.Clear(); }
        }
        await Task.WhenAll(publishing);
        var delivered = (await Task.WhenAll(consumers)).Sum();
        var seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"# fan-out: {messages:N0} messages to 10 queues, {delivered:N0} deliveries in {seconds:F2} s");
        Console.WriteLine($"RESULT|ws_fanout_10q_16B_autoack|deliveries_per_s|{delivered / seconds:F1}|deliveries/s");
        Console.WriteLine($"RESULT|ws_fanout_10q_16B_autoack|publish_msg_per_s|{messages / seconds:F1}|msg/s");
    }

    /// <summary>
    /// Publishes single messages over HTTP at a fixed rate (each carrying its send time) and measures the time until
    /// the WebSocket delivery arrives (auto-ack, prefetch 100), and each publish's own round trip.
    /// </summary>
    /// <param name="client">"raw": sixteen async publishers paced by .NET timers, writing HTTP/1.1 on sockets by hand as
    /// wrk does (<see cref="RawHttpPublisher"/>), and ClientWebSocket; "httpclient": the same with .NET's HttpClient;
    /// "eventloop": one thread, evenly spaced messages, latency from each message's due time (<see cref="EventLoopLatency"/>);
    /// "eventloop-ws": the same publishing over a WebSocket (publish frames and confirms) instead of HTTP.</param>
    /// <param name="consume">False for the floor: the same publishes against any server answering the publish path
    /// (bench/Gateway.Baseline does, trivially), without the WebSocket, so that only the round trips are measured.</param>
    public static async Task LatencyAsync(HttpClient http, string baseUrl, int rate, int seconds, string client = "raw", bool consume = true)
    {
        if (consume)
        {
            await http.DeleteAsync("/api/vhosts/default/queues/lat-bench");
            (await http.PutAsJsonAsync("/api/vhosts/default/queues/lat-bench", new { durable = false })).EnsureSuccessStatusCode();
        }
        var label = (consume ? "ws_latency_" : "http_floor_latency_") + rate + "mps" + (client == "raw" ? "" : "_" + client);
        if (client is "eventloop" or "eventloop-ws")
        {
            var loop = new Thread(() => EventLoopLatency.Run(baseUrl, Key, rate, seconds, connections: 16, consume, label, overWebSocket: client == "eventloop-ws"))
                { Name = "event loop" };
            loop.Start();
            loop.Join();
            return;
        }
        var socket = consume ? await ConnectAsync(baseUrl) : null;
        if (socket is not null) await SendAsync(socket, """{"type":"subscribe","id":"l","queue":"lat-bench","prefetch":100,"ackMode":"auto"}""");
        const int publishers = 16;
        var total = rate * seconds / publishers * publishers;
        var latencies = new List<double>(total);
        var clock = Stopwatch.StartNew();
        var consumer = socket is null ? Task.FromResult(0L) : Task.Run(() => CountDeliveriesAsync(socket, total, frame =>
        {
            // The payload is the send timestamp in Stopwatch ticks: "payload":"<ticks>"
            var text = Encoding.UTF8.GetString(frame.Span);
            var at = text.IndexOf("\"payload\":\"", StringComparison.Ordinal) + 11;
            var sentAt = long.Parse(text.AsSpan(at, text.IndexOf('"', at) - at));
            latencies.Add((clock.ElapsedTicks - sentAt) * 1_000_000.0 / Stopwatch.Frequency);
        }));
        // Several paced publishers, so that one slow request does not delay the schedule.
        var perPublisher = total / publishers;
        var interval = TimeSpan.FromSeconds((double)publishers / rate);
        const string path = "/api/vhosts/default/exchanges/amq.default/publish";
        // The publish's own round trip (request sent → confirm read), beside the delivery's: which side the tail is on.
        var confirms = new List<double>(total);
        await Task.WhenAll(Enumerable.Range(0, publishers).Select(async p =>
        {
            await using var raw = client == "raw" ? await RawHttpPublisher.ConnectAsync(baseUrl, path, Key) : null;
            var next = clock.Elapsed + interval * p / publishers;
            for (var i = 0; i < perPublisher; i++)
            {
                var wait = next - clock.Elapsed;
                if (wait > TimeSpan.Zero) await Task.Delay(wait);
                next += interval;
                // The body is written by hand and sent with a Content-Length, as curl or a browser's fetch would send it
                // (PostAsJsonAsync would serialize by reflection and stream the body chunked).
                var json = Encoding.UTF8.GetBytes("{\"routingKey\":\"lat-bench\",\"payload\":\"" + clock.ElapsedTicks + "\"}");
                var sent = clock.ElapsedTicks;
                if (raw is not null) await raw.PostAsync(json);
                else
                {
                    using var body = new ByteArrayContent(json);
                    body.Headers.ContentType = Json;
                    (await http.PostAsync(path, body)).EnsureSuccessStatusCode();
                }
                var answered = (clock.ElapsedTicks - sent) * 1_000_000.0 / Stopwatch.Frequency;
                lock (confirms) confirms.Add(answered);
            }
        }));
        await consumer.WaitAsync(TimeSpan.FromSeconds(30));
        var elapsed = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"RESULT|{label}|achieved_rate|{confirms.Count / elapsed:F1}|msg/s");
        if (consume) Report(label, "", latencies);
        Report(label, "confirm_", confirms);
    }

    /// <summary>Prints p50, p99, p99.9 and the maximum of <paramref name="values"/> (microseconds) as RESULT lines.</summary>
    public static void Report(string label, string prefix, List<double> values)
    {
        values.Sort();
        foreach (var (name, q) in new[] { ("p50_us", 0.5), ("p99_us", 0.99), ("p99.9_us", 0.999) })
            Console.WriteLine($"RESULT|{label}|{prefix}{name}|{values[Math.Min(values.Count - 1, (int)(q * values.Count))]:F0}|us");
        Console.WriteLine($"RESULT|{label}|{prefix}max_us|{values[^1]:F0}|us");
    }

    /// <summary>Opens `count` idle subscriptions (100 per socket, on one queue) and reports the server's resident memory growth.</summary>
    public static async Task IdleAsync(HttpClient http, string baseUrl, int count, int serverPid)
    {
        (await http.PutAsJsonAsync("/api/vhosts/default/queues/idle-bench", new { durable = false })).EnsureSuccessStatusCode();
        long Rss() => long.Parse(File.ReadAllLines($"/proc/{serverPid}/status").First(l => l.StartsWith("VmRSS:")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        var before = Rss();
        var sockets = new List<ClientWebSocket>();
        for (var opened = 0; opened < count; opened += 100)
        {
            var socket = await ConnectAsync(baseUrl);
            for (var i = 0; i < 100; i++)
                await SendAsync(socket, $$"""{"type":"subscribe","id":"s{{i}}","queue":"idle-bench","prefetch":100}""");
            sockets.Add(socket);
        }
        var queue = await http.GetFromJsonAsync<System.Text.Json.JsonElement>("/api/vhosts/default/queues/idle-bench");
        while (queue.GetProperty("consumers").GetInt32() < count)
        {
            await Task.Delay(100);
            queue = await http.GetFromJsonAsync<System.Text.Json.JsonElement>("/api/vhosts/default/queues/idle-bench");
        }
        var after = Rss();
        Console.WriteLine($"# {count:N0} idle subscriptions on {sockets.Count} sockets: server RSS {before / 1048576.0:F0} MiB -> {after / 1048576.0:F0} MiB");
        Console.WriteLine($"RESULT|ws_idle_{count}_subscriptions|server_rss_bytes|{after}|B");
        Console.WriteLine($"RESULT|ws_idle_{count}_subscriptions|rss_delta_bytes_per_subscription|{(after - before) / (double)count:F0}|B");
    }
}
