using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Gateway.Testing;
using Xunit.Abstractions;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// A webhook survives the loss of the gateway node that ran it: two gateway processes on the RabbitMQ cluster share
/// their webhooks in PostgreSQL, the node running the webhook is killed with kill -9, and the other one takes it over
/// (its claim, a PostgreSQL advisory lock, ended with the dead node's session). Nothing is lost; what the dead node had
/// in flight may come twice (at-least-once).
/// </summary>
[Collection(RabbitMqClusterFixture.Collection)]
public sealed class SharedWebhookFailoverTests(RabbitMqClusterFixture rabbit, ITestOutputHelper output)
{
    private Task<GatewayProcess> StartNodeAsync(string name, string database)
    {
        var cluster = rabbit.Cluster;
        var settings = new Dictionary<string, string>
        {
            ["Gateway:Backend"] = "RabbitMq",
            ["Gateway:RabbitMq:ManagementUri"] = cluster.ManagementUris[0].ToString(),
            ["Gateway:RabbitMq:NodeName"] = name,
            ["Gateway:Storage:Provider"] = "PostgreSql",
            ["Gateway:Storage:ConnectionString"] = database,
            ["Gateway:Webhooks:AllowedNetworks:0"] = "127.0.0.1/32",
        };
        for (var i = 0; i < cluster.Count; i++) settings[$"Gateway:RabbitMq:Uris:{i}"] = cluster.AmqpUris[i].ToString();
        return GatewayProcess.StartAsync(output, settings);
    }

    [Fact]
    public async Task When_the_node_running_a_webhook_is_killed_the_other_node_delivers_the_rest()
    {
        await rabbit.Cluster.EnsureAllRunningAsync();
        var postgres = new PostgresServer(); // its own, gone with the test
        try
        {
            var database = await postgres.CreateDatabaseAsync("failover");
            await using var receiver = await WebhookReceiver.StartAsync();
            var gw1 = await StartNodeAsync("gw1", database);
            await using var gw2 = await StartNodeAsync("gw2", database);
            try
            {
                var api1 = await gw1.Api.CreateVhostAsync("hooks");
                var api2 = new GatewayApi(gw2.Http, api1.VhostName);
                await api1.DeclareQueueAsync("events");
                var webhook = $"api/vhosts/{Uri.EscapeDataString(api1.VhostName)}/queues/events/webhooks/push";
                using (var created = await gw1.Http.PutAsJsonAsync(webhook, new { url = receiver.Url, concurrency = 1 }))
                    Assert.Equal(HttpStatusCode.Created, created.StatusCode);
                await LiveGateway.WaitForAsync(async () => (await gw2.Http.GetAsync(webhook)).StatusCode, s => s == HttpStatusCode.OK,
                    "gw2 to know the webhook", TimeSpan.FromSeconds(10));

                foreach (var n in Enumerable.Range(0, 3))
                    await api2.PublishAsync("amq.default", new PublishEnvelope("events", $"before-{n}", MessageProperties.Persistent));
                await LiveGateway.WaitForAsync(() => Task.FromResult(receiver.Requests.Count), c => c >= 3, "gw1 to deliver the first three",
                    TimeSpan.FromSeconds(30));

                gw1.Kill();
                var killed = Stopwatch.StartNew();
                foreach (var n in Enumerable.Range(0, 3))
                    await api2.PublishAsync("amq.default", new PublishEnvelope("events", $"after-{n}", MessageProperties.Persistent));

                await LiveGateway.WaitForAsync(() => Task.FromResult(receiver.Requests.Select(r => r.Text).ToHashSet()), texts => texts.Count >= 6,
                    "gw2 to take the webhook over and deliver the rest", TimeSpan.FromSeconds(30));
                output.WriteLine($"gw2 delivered the rest {killed.ElapsedMilliseconds} ms after gw1 was killed; " +
                                 $"{receiver.Requests.Count} requests for 6 messages");
                Assert.Equal(["after-0", "after-1", "after-2", "before-0", "before-1", "before-2"],
                    receiver.Requests.Select(r => r.Text).Distinct().Order(StringComparer.Ordinal));
                // One consumer at a time: gw2's deliveries follow the publish order.
                var afterOrder = receiver.Requests.Select(r => r.Text).Where(t => t.StartsWith("after-", StringComparison.Ordinal)).Distinct();
                Assert.Equal(["after-0", "after-1", "after-2"], afterOrder);
                Assert.Equal(1, receiver.MaxConcurrent);
                await api2.DeleteQueueAsync("events");
            }
            finally
            {
                await gw1.DisposeAsync();
            }
        }
        finally
        {
            postgres.Dispose();
        }
    }
}
