using Gateway.Testing;

namespace Gateway.EndToEnd.Tests;

/// <summary>Binary frames (raw payloads) between real ClientWebSockets through the server process.</summary>
public sealed partial class WebSocketProcessTests
{
    /// <summary>
    /// Random bytes of several sizes (empty, one byte, not UTF-8, up to Gateway:Limits:MaxMessageBytes) published as binary
    /// frames on one socket arrive unchanged, in order, as binary deliveries on another.
    /// </summary>
    [Fact]
    public async Task Raw_payloads_published_in_binary_frames_arrive_unchanged_in_binary_deliveries()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue);
        await using var publisher = await gateway.ConnectAsync(api);
        await using var consumer = await gateway.ConnectAsync(api);
        await consumer.SubscribeAsync(queue: Queue, ackMode: "auto", payloadFormat: "binary");
        var random = new Random(7);
        var bodies = new[] { 0, 1, 3, 1000, LiveGateway.MaxMessageBytes }.Select(size =>
        {
            var body = new byte[size];
            random.NextBytes(body);
            if (size > 0) body[0] = 0xff; // never valid UTF-8
            return body;
        }).ToList();

        for (var i = 0; i < bodies.Count; i++)
            await publisher.SendBinaryFrameAsync(new { type = "publish", id = $"b{i}", routingKey = Queue, properties = new { contentType = "application/octet-stream" } }, bodies[i]);
        var confirms = new List<string>();
        foreach (var _ in bodies) confirms.Add((await publisher.ExpectAsync("confirm")).Str("id"));
        var received = new List<ServerMessage>();
        foreach (var _ in bodies) received.Add(await consumer.ReceiveMessageAsync());

        Assert.Equal(Enumerable.Range(0, bodies.Count).Select(i => $"b{i}"), confirms);
        Assert.Equal(bodies, received.Select(m => m.Payload));
        Assert.All(received, m => Assert.Equal("application/octet-stream", m.Frame.GetProperty("properties").Str("contentType")));
    }

    [Fact]
    public async Task Binary_deliveries_of_an_aborted_socket_come_again_as_binary_frames_on_another_socket()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue);
        await using (var publisher = await gateway.ConnectAsync(api))
        {
            await publisher.SendBinaryFrameAsync(new { type = "publish", routingKey = Queue }, [0xde, 0xad, 0xbe, 0xef]);
            await publisher.ExpectAsync("confirm");
        }
        var crashing = await gateway.ConnectAsync(api);
        await crashing.SubscribeAsync(queue: Queue, payloadFormat: "binary");
        var first = await crashing.ReceiveMessageAsync();
        await using var survivor = await gateway.ConnectAsync(api);
        await survivor.SubscribeAsync(queue: Queue, payloadFormat: "binary");

        crashing.Abort();
        var again = await survivor.ReceiveMessageAsync();
        await crashing.DisposeAsync();

        Assert.Equal(new byte[] { 0xde, 0xad, 0xbe, 0xef }, first.Payload);
        Assert.Equal(first.Payload, again.Payload);
        Assert.True(again.Frame.GetProperty("redelivered").GetBoolean());
    }
}
