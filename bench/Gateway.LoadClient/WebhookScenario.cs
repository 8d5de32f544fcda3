using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

/// <summary>
/// Webhook deliveries per second (issue 7): a local Kestrel receiver that answers 204 at once; the queue
/// "webhook-bench" (transient, 16-byte messages) is filled first, then a webhook with the given concurrency is created
/// and timed until the receiver has seen every message and the queue is empty (every 2xx acknowledged).
/// </summary>
internal static class WebhookScenario
{
    private const string Queue = "webhook-bench";

    public static async Task RunAsync(HttpClient http, int messages, int[] concurrencies)
    {
        var received = 0L;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var receiver = builder.Build();
        receiver.Run(context =>
        {
            Interlocked.Increment(ref received);
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        });
        await receiver.StartAsync();
        var url = receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/hook";

        foreach (var concurrency in concurrencies)
        {
            await http.DeleteAsync($"/api/vhosts/default/queues/{Queue}");
            (await http.PutAsJsonAsync($"/api/vhosts/default/queues/{Queue}", new { durable = false })).EnsureSuccessStatusCode();
            var batch = new { messages = Enumerable.Range(0, 1000).Select(_ => new { routingKey = Queue, payload = "0123456789abcdef" }).ToArray() };
            for (var i = 0; i < messages; i += 1000)
                (await http.PostAsJsonAsync("/api/vhosts/default/exchanges/amq.default/publish/batch", batch)).EnsureSuccessStatusCode();
            var total = (messages + 999) / 1000 * 1000;
            Interlocked.Exchange(ref received, 0);

            var clock = Stopwatch.StartNew();
            var put = await http.PutAsJsonAsync($"/api/vhosts/default/queues/{Queue}/webhooks/bench", new { url, concurrency });
            if (!put.IsSuccessStatusCode) throw new InvalidOperationException($"PUT webhook answered {(int)put.StatusCode}: {await put.Content.ReadAsStringAsync()}");
            while (Interlocked.Read(ref received) < total) await Task.Delay(5);
            var seen = clock.Elapsed;
            while (true)
            {
                var queue = await http.GetFromJsonAsync<QueueCounts>($"/api/vhosts/default/queues/{Queue}");
                if (queue!.Messages == 0) break;
                await Task.Delay(5);
            }
            var acked = clock.Elapsed;
            (await http.DeleteAsync($"/api/vhosts/default/queues/{Queue}/webhooks/bench")).EnsureSuccessStatusCode();
            Console.WriteLine($"webhook concurrency {concurrency}: {total} messages received in {seen.TotalSeconds:F2} s, all acked after {acked.TotalSeconds:F2} s");
            Console.WriteLine($"RESULT|webhook_c{concurrency}|msg_per_s|{total / acked.TotalSeconds:F1}|msg/s");
        }
        await http.DeleteAsync($"/api/vhosts/default/queues/{Queue}");
        await receiver.StopAsync();
    }

    private sealed record QueueCounts(int Messages);
}
