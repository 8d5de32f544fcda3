using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// SIGTERM: the server stops accepting, answers what is in flight (long-polls answer empty), closes WebSockets with
/// 1001, flushes the journal and exits 0 within its shutdown timeout; every confirmed message is there after the restart,
/// and deliveries that were unacknowledged come back redelivered.
/// </summary>
public sealed class ShutdownTests(ITestOutputHelper output)
{
    [Fact]
    public async Task SIGTERM_under_load_keeps_every_confirmed_message_closes_sockets_with_1001_and_exits_0()
    {
        await using var gateway = await GatewayProcess.StartAsync(output);
        var api = gateway.Api;
        Assert.Equal(HttpStatusCode.Created, await api.DeclareQueueAsync("kept"));
        Assert.Equal(HttpStatusCode.Created, await api.DeclareQueueAsync("held"));
        Assert.Equal(HttpStatusCode.Created, await api.DeclareQueueAsync("idle"));
        for (var i = 0; i < 5; i++)
            await api.PublishAsync("amq.default", new PublishEnvelope("held", $"held-{i}", MessageProperties.Persistent));

        // A WebSocket subscriber holding the five 'held' messages unacknowledged.
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("gateway.v1.json");
        await socket.ConnectAsync(new Uri($"ws://{gateway.BaseAddress.Authority}/api/vhosts/default/ws"), CancellationToken.None);
        await SendAsync(socket, new { type = "subscribe", id = "s1", queue = "held", prefetch = 10, ackMode = "manual" });
        var deliveries = 0;
        while (deliveries < 5)
            if ((await ReceiveAsync(socket)).RootElement.GetProperty("type").GetString() == "delivery") deliveries++;

        // A long-poll waiting on an empty queue, and publishers that keep going until the server stops answering.
        var longPoll = gateway.Http.PostAsJsonAsync("api/vhosts/default/queues/idle/get", new { max = 1, waitSeconds = 60 });
        var confirmed = new ConcurrentQueue<(int Publisher, int Sequence)>();
        using var stop = new CancellationTokenSource();
        var publishers = Enumerable.Range(0, 4).Select(p => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested && i < 100_000; i++)
            {
                try
                {
                    await api.PublishAsync("amq.default", new PublishEnvelope("kept", $"{p}:{i}", MessageProperties.Persistent));
                    confirmed.Enqueue((p, i));
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UnexpectedAnswerException or IOException)
                {
                    return; // not confirmed: the server is going away
                }
            }
        })).ToList();
        var started = Stopwatch.StartNew();
        while (confirmed.Count < 50 && started.Elapsed < GatewayProcess.ReadyTimeout) await Task.Delay(10);

        var closed = CloseStatusAsync(socket); // reads (and answers) the server's close frame while it stops
        var stopping = Stopwatch.StartNew();
        var exitCode = await gateway.StopAsync();
        stopping.Stop();
        stop.Cancel();
        await Task.WhenAll(publishers);

        Assert.True(exitCode == 0, $"SIGTERM exited with {exitCode}.{Environment.NewLine}{gateway.RecentOutput()}");
        // The default shutdown timeout is 10 s; nothing here should need it.
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"The graceful stop took {stopping.Elapsed}.");
        var poll = await longPoll;
        Assert.Equal(HttpStatusCode.OK, poll.StatusCode);
        Assert.Equal("[]", await poll.Content.ReadAsStringAsync());
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await closed);

        await gateway.RestartAsync();
        var kept = (await gateway.Api.DrainAsync("kept")).Select(d => d.Payload).ToHashSet();
        var missing = confirmed.Where(c => !kept.Contains($"{c.Publisher}:{c.Sequence}")).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {confirmed.Count} confirmed messages are missing after the restart, e.g. {string.Join(", ", missing.Take(5))}.");
        var held = await gateway.Api.DrainAsync("held");
        Assert.Equal(Enumerable.Range(0, 5).Select(i => $"held-{i}"), held.Select(d => d.Payload));
        Assert.All(held, d => Assert.True(d.Redelivered, $"{d.Payload} was delivered before the stop and should come back redelivered."));
    }

    private static Task SendAsync(ClientWebSocket socket, object frame) =>
        socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(frame, GatewayApi.Json), WebSocketMessageType.Text, true, CancellationToken.None);

    private static async Task<JsonDocument> ReceiveAsync(ClientWebSocket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[64 * 1024];
        var text = new StringBuilder();
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType == WebSocketMessageType.Close) throw new InvalidOperationException($"Closed: {result.CloseStatus}");
            text.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
        } while (!result.EndOfMessage);
        return JsonDocument.Parse(text.ToString());
    }

    // Reads until the server's close frame (deliveries may precede it) and answers it.
    private static async Task<WebSocketCloseStatus?> CloseStatusAsync(ClientWebSocket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[64 * 1024];
        while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
        {
            var result = await socket.ReceiveAsync(buffer, timeout.Token);
            if (result.MessageType != WebSocketMessageType.Close) continue;
            if (socket.State == WebSocketState.CloseReceived) await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            return result.CloseStatus;
        }
        return socket.CloseStatus;
    }
}
