using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// A publish flood with no consumers against the real server with a low memory high-watermark: publishes are refused
/// with 503 once memory passes it, the process stays alive and bounded, consumers drain every confirmed message, and
/// publishing resumes once they have.
/// </summary>
public sealed class MemoryFloodTests(ITestOutputHelper output)
{
    private const long Watermark = 256L * 1024 * 1024;
    private const int PayloadBytes = 64 * 1024;
    private const int BatchSize = 64;

    private static readonly string Payload = new('x', PayloadBytes);
    private static readonly object Batch = new { messages = Enumerable.Range(0, BatchSize).Select(_ => new { routingKey = "flood", payload = Payload }).ToArray() };

    private static long ResidentBytes(int pid) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;

    private static async Task<(HttpStatusCode Status, string Body)> PublishBatchAsync(HttpClient http)
    {
        using var response = await http.PostAsJsonAsync("api/vhosts/default/exchanges/amq.default/publish/batch", Batch);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_publish_flood_without_consumers_is_refused_at_the_watermark_and_resumes_once_drained()
    {
        await using var gateway = await GatewayProcess.StartAsync(output, settings: new Dictionary<string, string>
        {
            ["Gateway:Limits:MemoryHighWatermarkBytes"] = Watermark.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Gateway:Limits:MemorySampleMilliseconds"] = "100",
        });
        var http = gateway.Http;
        (await http.PutAsJsonAsync("api/vhosts/default/queues/flood", new { durable = false })).EnsureSuccessStatusCode();

        // Flood until the first refusal; a server without the alarm would take 16 times the watermark and more.
        var confirmed = 0L;
        var clock = Stopwatch.StartNew();
        var peak = 0L;
        string refusal;
        while (true)
        {
            var (status, body) = await PublishBatchAsync(http);
            peak = Math.Max(peak, ResidentBytes(gateway.ProcessId));
            if (status == HttpStatusCode.OK)
            {
                confirmed += BatchSize;
                Assert.True(confirmed * PayloadBytes < 16 * Watermark, $"{confirmed} messages ({confirmed * PayloadBytes:N0} bytes) confirmed and no memory alarm.");
                continue;
            }
            Assert.True(status == HttpStatusCode.ServiceUnavailable, $"The flood was answered {(int)status}: {body}");
            refusal = body;
            break;
        }
        output.WriteLine($"First refusal after {confirmed:N0} messages ({confirmed * PayloadBytes / 1048576.0:F0} MiB of payload) in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal("urn:gateway:problem:memory-alarm", JsonDocument.Parse(refusal).RootElement.GetProperty("type").GetString());
        Assert.True(confirmed * PayloadBytes >= Watermark / 4, $"Refused after only {confirmed * PayloadBytes:N0} bytes of payload.");

        // Publishers keep pushing: refused, and the server stays up and bounded.
        var refused = 0;
        for (var i = 0; i < 50; i++)
        {
            var (status, _) = await PublishBatchAsync(http);
            if (status == HttpStatusCode.ServiceUnavailable) refused++;
            else confirmed += BatchSize; // the alarm may clear for a moment once a collection frees garbage
            peak = Math.Max(peak, ResidentBytes(gateway.ProcessId));
        }
        var ready = await http.GetStringAsync("readyz");
        output.WriteLine($"Refused {refused} of 50 more batches; peak RSS {peak / 1048576.0:F0} MiB; /readyz: {ready}");
        // Near the watermark the alarm may clear for a moment after a collection and let a batch in: what is stored
        // stays under the watermark all the same.
        Assert.True(refused > 25, $"Only {refused} of 50 batches were refused during the alarm.");
        Assert.True(confirmed * PayloadBytes < Watermark, $"{confirmed * PayloadBytes:N0} bytes of payload were confirmed, over the watermark.");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("healthz")).StatusCode);
        Assert.True(peak < 3 * Watermark, $"The server's resident memory reached {peak:N0} bytes, over three times the watermark.");

        // Consumers drain everything that was confirmed, alarm or not.
        var drained = 0L;
        while (true)
        {
            using var response = await http.PostAsJsonAsync("api/vhosts/default/queues/flood/get", new { max = 200, ackMode = "auto" });
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"get answered {(int)response.StatusCode} during the alarm");
            var deliveries = await response.Content.ReadFromJsonAsync<List<JsonElement>>();
            if (deliveries!.Count == 0) break;
            Assert.All(deliveries, d => Assert.Equal(PayloadBytes, d.GetProperty("payload").GetString()!.Length));
            drained += deliveries.Count;
        }
        Assert.Equal(confirmed, drained);

        // Drained: the alarm clears and publishes are confirmed again.
        var resumed = Stopwatch.StartNew();
        while (true)
        {
            using var response = await http.PostAsJsonAsync("api/vhosts/default/exchanges/amq.default/publish", new { routingKey = "flood", payload = "after" });
            if (response.StatusCode == HttpStatusCode.OK) break;
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"publish answered {(int)response.StatusCode}");
            Assert.True(resumed.Elapsed < TimeSpan.FromSeconds(30), "Publishing did not resume within 30 s of the queue being drained.");
            await Task.Delay(TimeSpan.FromSeconds(1)); // Retry-After
        }
        output.WriteLine($"Publishing resumed {resumed.ElapsedMilliseconds} ms after the queue was drained");
        Assert.Equal("Healthy", (await http.GetFromJsonAsync<JsonElement>("readyz")).GetProperty("status").GetString());
    }
}
