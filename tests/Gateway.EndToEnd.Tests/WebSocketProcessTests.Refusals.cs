using System.Net;
using System.Net.WebSockets;
using Gateway.Testing;

namespace Gateway.EndToEnd.Tests;

/// <summary>Frames the server refuses: each is answered by an error frame or a close with a clear code, never a server fault.</summary>
public sealed partial class WebSocketProcessTests
{
    [Fact]
    public async Task Invalid_JSON_answers_an_error_400_without_id_and_the_socket_stays_open()
    {
        var api = await gateway.NewVhostAsync();
        await using var socket = await gateway.ConnectAsync(api);

        await socket.SendTextAsync("{\"type\": \"ping\", ");
        var error = await socket.ReceiveAsync();

        error.IsError(400);
        await socket.PingAsync();
    }

    [Fact]
    public async Task An_unknown_frame_type_answers_an_error_400_with_the_request_id()
    {
        var api = await gateway.NewVhostAsync();
        await using var socket = await gateway.ConnectAsync(api);

        var error = await socket.RequestAsync(new { type = "consume", id = "x-1", queue = Queue });

        error.IsError(400, id: "x-1");
        await socket.PingAsync();
    }

    /// <summary>Each frame lacks a field its type needs; the answer names the request when the frame had an id.</summary>
    [Theory]
    [InlineData("""{"id":"s"}""", null)]                                     // no type
    [InlineData("""{"type":"subscribe","queue":"q"}""", null)]               // no subscription id
    [InlineData("""{"type":"subscribe","id":"s"}""", "s")]                   // no queue
    [InlineData("""{"type":"cancel"}""", null)]                              // no subscription id
    [InlineData("""{"type":"ack"}""", null)]                                 // no delivery tag
    [InlineData("""{"type":"nack","requeue":false}""", null)]                // no delivery tag
    [InlineData("""{"type":"ack","deliveryTag":"not-a-tag"}""", null)]       // not a tag at all
    [InlineData("""{"type":"publish","id":"p","routingKey":"q"}""", "p")]    // no payload
    [InlineData("""{"type":"publish","id":"p","routingKey":"q","payload":"%%","payloadEncoding":"base64"}""", "p")] // not base64
    [InlineData("""{"type":"subscribe","id":"s","queue":"q","prefetch":"10"}""", null)] // wrongly typed
    public async Task A_frame_missing_a_required_field_answers_an_error_400(string frame, string? id)
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue);
        await using var socket = await gateway.ConnectAsync(api);

        await socket.SendTextAsync(frame);
        var error = await socket.ReceiveAsync();

        error.IsError(400, id);
        await socket.PingAsync();
    }

    [Fact]
    public async Task A_frame_larger_than_MaxRequestBodyBytes_closes_the_socket_with_1009_and_others_keep_working()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m");
        await using var bystander = await gateway.ConnectAsync(api);
        await using var socket = await gateway.ConnectAsync(api);

        await socket.SendAsync(new { type = "ping", id = new string('x', LiveGateway.MaxRequestBodyBytes + 1) });
        await socket.WaitForServerCloseAsync();

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, socket.CloseStatus);
        Assert.Contains("MaxRequestBodyBytes", socket.CloseDescription);
        await bystander.SubscribeAsync(queue: Queue);
        Assert.Equal("m", (await bystander.ExpectAsync("delivery")).Str("payload"));
    }

    [Fact]
    public async Task A_binary_frame_that_is_not_a_binary_publish_answers_an_error_400_and_the_socket_stays_open()
    {
        var api = await gateway.NewVhostAsync();
        await using var socket = await gateway.ConnectAsync(api);

        await socket.SendBinaryAsync("{\"type\":\"ping\",\"id\":\"b\"}"u8.ToArray());
        var error = await socket.ReceiveAsync();

        error.IsError(400);
        await socket.PingAsync();
    }

    /// <summary>
    /// The WebSocket layer sends a close with 1007 and drops the connection at once (System.Net.WebSockets aborts after
    /// a receive error), so the client sees the 1007 or only the end of the connection; the socket's unacked deliveries
    /// return to the queue and go to the next consumer.
    /// </summary>
    [Fact]
    public async Task A_text_frame_that_is_not_UTF8_ends_the_connection_and_requeues_its_deliveries()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m");
        await using var socket = await gateway.ConnectAsync(api);
        await socket.SubscribeAsync(queue: Queue);
        await socket.ExpectAsync("delivery");

        await socket.SendTextBytesAsync([0x7b, 0xff, 0xfe, 0x7d]);
        await socket.WaitForServerCloseAsync();

        Assert.True(socket.CloseStatus == WebSocketCloseStatus.InvalidPayloadData ||
                    socket.ReadError is WebSocketException { WebSocketErrorCode: WebSocketError.ConnectionClosedPrematurely },
            $"Expected a close with 1007 or the connection's end: close status {socket.CloseStatus?.ToString() ?? "none"}, read error {socket.ReadError}");
        await using var next = await gateway.ConnectAsync(api);
        await next.SubscribeAsync(queue: Queue);
        var again = await next.ExpectAsync("delivery");
        Assert.Equal(("m", true), (again.Str("payload"), again.GetProperty("redelivered").GetBoolean()));
    }

    /// <summary>
    /// A burst of every kind of garbage on one socket: it answers errors (or is closed), the server process stays up, logs
    /// no failure, and serves another socket and HTTP as before.
    /// </summary>
    [Fact]
    public async Task After_a_burst_of_garbage_the_server_keeps_serving_other_sockets()
    {
        var api = await gateway.NewVhostWithQueueAsync(Queue, "m1");
        var random = new Random(4);
        string[] texts =
        [
            "", " ", "null", "true", "[1,2,3]", "\"just a string\"", "{", "}", "{\"type\":null}", "{\"type\":\"\"}",
            "{\"type\":\"subscribe\",\"id\":\"s\",\"queue\":\"q\",\"prefetch\":1e400}",
            "{\"type\":\"ack\",\"deliveryTag\":12345}", "{\"type\":\"ping\",\"id\":{\"nested\":true}}",
            new string('[', 10_000) + new string(']', 10_000),
            "{\"type\":\"publish\",\"id\":\"p\",\"routingKey\":\"" + new string('k', 300) + "\",\"payload\":\"x\"}",
            "{\"type\":\"subscribe\",\"id\":\"" + new string('i', 300) + "\",\"queue\":\"q\"}",
            "{\"type\":\"cancel\",\"id\":\"never-subscribed\"}",
            "{\"type\":\"ping\",\"unknownMember\":1}",
        ];
        await using (var garbage = await gateway.ConnectAsync(api))
        {
            foreach (var text in texts)
            {
                await garbage.SendTextAsync(text);
                Assert.Equal("error", (await garbage.ReceiveAsync()).Type());
            }
            for (var i = 0; i < 20; i++)
            {
                var bytes = new byte[random.Next(1, 2000)];
                random.NextBytes(bytes);
                await garbage.SendBinaryAsync(bytes);
                Assert.Equal("error", (await garbage.ReceiveAsync()).Type());
            }
            await garbage.PingAsync();
        }

        await using var fresh = await gateway.ConnectAsync(api);
        await fresh.SubscribeAsync(queue: Queue);
        Assert.Equal("m1", (await fresh.ExpectAsync("delivery")).Str("payload"));
        using var health = await gateway.Process.Http.GetAsync("healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        var output = gateway.Process.RecentOutput(200);
        Assert.False(output.Contains("fail:", StringComparison.Ordinal) || output.Contains("crit:", StringComparison.Ordinal),
            $"The server logged a failure while refusing garbage.{Environment.NewLine}{output}");
    }

    [Fact]
    public async Task A_non_WebSocket_GET_answers_a_400_problem_document()
    {
        var api = await gateway.NewVhostAsync();

        using var response = await gateway.Process.Http.GetAsync($"api/vhosts/{api.VhostName}/ws");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("WebSocket", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_upgrade_to_an_unknown_vhost_is_refused_with_404()
    {
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol(SocketClient.SubProtocol);
        socket.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(SocketClient.Url("no-such-vhost", gateway.BaseAddress), CancellationToken.None));

        Assert.Equal(HttpStatusCode.NotFound, socket.HttpStatusCode);
    }
}
