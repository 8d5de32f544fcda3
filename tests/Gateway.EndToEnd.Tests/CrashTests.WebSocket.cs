using System.Net;
using Gateway.Testing;

namespace Gateway.EndToEnd.Tests;

public sealed partial class CrashTests
{
    /// <summary>
    /// A WebSocket consumer holds persistent messages unacked when the server is killed with SIGKILL. The ones it acked
    /// before (each ack followed by a ping, whose pong proves the ack was handled and stored) never come back; after a
    /// restart every unacked one is delivered again over a new socket, in order, marked redelivered.
    /// </summary>
    [Fact]
    public async Task Kill_with_a_WebSocket_consumer_holding_unacked_persistent_messages_redelivers_them_after_restart()
    {
        const string queue = "crash-ws";
        const int total = 10, acked = 4;
        await using var gateway = await GatewayProcess.StartAsync(output);
        Assert.Equal(HttpStatusCode.Created, await gateway.Api.DeclareQueueAsync(queue));
        var payloads = Enumerable.Range(0, total).Select(i => $"ws-{i}").ToList();
        foreach (var payload in payloads)
            Assert.True((await gateway.Api.PublishAsync("amq.default", new PublishEnvelope(queue, payload, MessageProperties.Persistent))).Routed);

        var consumer = await SocketClient.ConnectAsync(gateway.BaseAddress);
        await consumer.SubscribeAsync(queue: queue, prefetch: total);
        var deliveries = await consumer.DeliveriesAsync(total);
        Assert.Equal(payloads, deliveries.Payloads());
        await consumer.AckAsync(deliveries[acked - 1], multiple: true);
        await consumer.PingAsync();

        gateway.Kill();
        await consumer.WaitForServerCloseAsync(); // the TCP connection died with the process
        await consumer.DisposeAsync();
        await gateway.RestartAsync();

        await AssertQueueSurvivedAsync(gateway, queue);
        await using var again = await SocketClient.ConnectAsync(gateway.BaseAddress);
        await again.SubscribeAsync(queue: queue, prefetch: total);
        var redelivered = await again.DeliveriesAsync(total - acked);
        await again.PingAsync(); // and nothing more: the acked ones stay gone

        Assert.Equal(payloads.Skip(acked), redelivered.Payloads());
        Assert.All(redelivered, d => Assert.True(d.GetProperty("redelivered").GetBoolean(), $"Not marked redelivered: {d.GetRawText()}"));
    }
}
