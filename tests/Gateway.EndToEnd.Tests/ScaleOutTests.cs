using System.Collections.Concurrent;
using System.Diagnostics;
using Gateway.Testing;
using Xunit.Abstractions;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// Scale-out with real processes: two gateway processes on the RabbitMQ backend over one private 3-node RabbitMQ
/// cluster (quorum queues), and kill -9 of the RabbitMQ node that leads the queue while both publish persistent
/// messages. Nothing confirmed may be lost (duplicates are allowed: a publish whose confirm was lost with its
/// connection is in doubt and sent again), and publishing resumes on both nodes.
/// </summary>
[Collection(RabbitMqClusterFixture.Collection)]
public sealed class ScaleOutTests(RabbitMqClusterFixture rabbit, ITestOutputHelper output)
{
    // The bound for resuming after the leader's node dies; measured here: 0.2 – 0.6 s (../shared/anchors/rabbitmq-cluster).
    private static readonly TimeSpan ResumeBound = TimeSpan.FromSeconds(5);

    private RabbitMqCluster Cluster => rabbit.Cluster;

    private Task<GatewayProcess> StartNodeAsync(string name, int managementNode)
    {
        var settings = new Dictionary<string, string>
        {
            ["Gateway:Backend"] = "RabbitMq",
            ["Gateway:RabbitMq:ManagementUri"] = Cluster.ManagementUris[managementNode].ToString(),
            ["Gateway:RabbitMq:NodeName"] = name,
        };
        for (var i = 0; i < Cluster.Count; i++)
        {
            settings[$"Gateway:RabbitMq:Uris:{i}"] = Cluster.AmqpUris[i].ToString();
            settings[$"Gateway:RabbitMq:ManagementUris:{i}"] = Cluster.ManagementUris[i].ToString();
        }
        return GatewayProcess.StartAsync(output, settings);
    }

    [Fact]
    public async Task Two_gateway_nodes_lose_no_confirmed_message_when_the_queue_leaders_node_is_killed()
    {
        await Cluster.EnsureAllRunningAsync();
        await using var gw1 = await StartNodeAsync("gw1", 0);
        await using var gw2 = await StartNodeAsync("gw2", 1);
        var api1 = await gw1.Api.CreateVhostAsync("scale");
        var api2 = new GatewayApi(gw2.Http, api1.VhostName);
        await api1.DeclareQueueAsync("orders");
        // The other node sees the same topology at once: it is RabbitMQ's.
        Assert.True((await api2.GetQueueAsync("orders")).Durable);
        var replicas = await Cluster.WaitForQueueLeaderAsync(api1.VhostName, "orders", r => r.Online.Count == Cluster.Count);
        output.WriteLine($"queue 'orders': {replicas}");
        var leader = Cluster.IndexOf(replicas.Leader!);

        var confirmed = new ConcurrentDictionary<string, byte>();
        var confirmedAt = new ConcurrentQueue<(string Node, long Ticks)>();
        using var stop = new CancellationTokenSource();
        async Task PublishAsync(string node, GatewayApi api)
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var id = $"{node}-{n}";
                // At least once: an answer that is not a confirm (503 while no leader, a lost connection) means in
                // doubt, and the same message is sent again.
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        var answer = await api.PublishAsync("amq.default", new PublishEnvelope("orders", id, MessageProperties.Persistent, Mandatory: true));
                        if (answer.Routed)
                        {
                            confirmed[id] = 0;
                            confirmedAt.Enqueue((node, Stopwatch.GetTimestamp()));
                            break;
                        }
                    }
                    catch (Exception e) when (e is UnexpectedAnswerException or HttpRequestException or TaskCanceledException)
                    {
                        output.WriteLine($"{node}: {id} not confirmed ({e.Message.Split('\n')[0]}); sending it again");
                    }
                    await Task.Delay(20);
                }
            }
        }
        var publishers = new[] { Task.Run(() => PublishAsync("gw1", api1)), Task.Run(() => PublishAsync("gw2", api2)) };

        await LiveGateway.WaitForAsync(() => Task.FromResult(confirmed.Count), c => c >= 300, "300 confirmed publishes before the kill");
        var killedAt = Stopwatch.GetTimestamp();
        await Cluster.KillAsync(leader);
        output.WriteLine($"killed {replicas.Leader} after {confirmed.Count} confirms");
        // Both nodes confirm again, each well after the kill.
        await LiveGateway.WaitForAsync(() => Task.FromResult(confirmedAt.Count(c => c.Ticks > killedAt)), _ =>
                confirmedAt.Any(c => c.Node == "gw1" && c.Ticks > killedAt) && confirmedAt.Any(c => c.Node == "gw2" && c.Ticks > killedAt) &&
                confirmedAt.Count(c => c.Ticks > killedAt) >= 200,
            "both gateway nodes confirming again after the kill", TimeSpan.FromSeconds(60));
        await stop.CancelAsync();
        await Task.WhenAll(publishers);

        // Publishes are sequential per node, so the longest pause between two of a node's confirms around the kill is
        // how long its publishing stalled (the backend republishes nacked and in-doubt messages itself meanwhile).
        foreach (var node in new[] { "gw1", "gw2" })
        {
            var ticks = confirmedAt.Where(c => c.Node == node).Select(c => c.Ticks).Order().ToList();
            var from = ticks.FindLastIndex(t => t <= killedAt);
            var stall = TimeSpan.Zero;
            for (var i = Math.Max(from, 0) + 1; i < ticks.Count; i++) stall = TimeSpan.FromTicks(Math.Max(stall.Ticks, Stopwatch.GetElapsedTime(ticks[i - 1], ticks[i]).Ticks));
            output.WriteLine($"{node}: longest pause between confirms after the kill {stall.TotalMilliseconds:F0} ms");
            Assert.True(stall <= ResumeBound, $"{node} stopped confirming for {stall.TotalSeconds:F1} s after the kill (bound {ResumeBound.TotalSeconds} s).");
        }

        // Every confirmed message is in the queue (read through the other node than most were published to).
        var received = new HashSet<string>();
        var duplicates = 0;
        while (true)
        {
            var batch = await api2.GetAsync("orders", new GetRequest(1000, "auto"));
            if (batch.Count == 0) break;
            foreach (var delivery in batch)
                if (!received.Add(delivery.Payload)) duplicates++;
        }
        var lost = confirmed.Keys.Where(id => !received.Contains(id)).ToList();
        output.WriteLine($"confirmed {confirmed.Count}, received {received.Count} distinct, {duplicates} duplicates, lost {lost.Count}");
        Assert.Empty(lost);

        await Cluster.StartNodeAsync(leader);
    }

    [Fact]
    public async Task Deliveries_unacked_on_a_killed_gateway_node_are_redelivered_through_the_other()
    {
        await Cluster.EnsureAllRunningAsync();
        var gw1 = await StartNodeAsync("gw1", 0);
        await using var gw2 = await StartNodeAsync("gw2", 1);
        try
        {
            var api1 = await gw1.Api.CreateVhostAsync("scale");
            var api2 = new GatewayApi(gw2.Http, api1.VhostName);
            await api1.DeclareQueueAsync("jobs");
            foreach (var n in Enumerable.Range(0, 5)) await api1.PublishAsync("amq.default", new PublishEnvelope("jobs", $"job-{n}", MessageProperties.Persistent));

            // gw1 holds all five, unacknowledged (a subscription over its WebSocket), then dies.
            await using (var socket = await SocketClient.ConnectAsync(gw1.BaseAddress, api1.VhostName))
            {
                await socket.SubscribeAsync(queue: "jobs", prefetch: 10);
                for (var n = 0; n < 5; n++) Assert.Equal($"job-{n}", (await socket.ExpectAsync("delivery")).GetProperty("payload").GetString());
                gw1.Kill();
            }

            // RabbitMQ sees gw1's connection go and gives the messages to the next consumer, through gw2, redelivered.
            var redelivered = await LiveGateway.WaitForAsync(() => api2.GetAsync("jobs", new GetRequest(10, "manual", WaitSeconds: 1)),
                d => d.Count > 0, "the messages gw1 held to come back through gw2", TimeSpan.FromSeconds(30));
            var all = redelivered.ToList();
            while (all.Count < 5)
            {
                var more = await api2.GetAsync("jobs", new GetRequest(10, "manual", WaitSeconds: 1));
                if (more.Count == 0) break;
                all.AddRange(more);
            }
            Assert.Equal(Enumerable.Range(0, 5).Select(n => $"job-{n}"), all.Select(d => d.Payload).Order());
            Assert.All(all, d => Assert.True(d.Redelivered, $"{d.Payload} should be redelivered"));
            await api2.AckAsync("jobs", all.Select(d => d.DeliveryTag).ToList());
        }
        finally
        {
            await gw1.DisposeAsync();
        }
    }
}
