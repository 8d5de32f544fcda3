using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Gateway.Server.Tests;

/// <summary>
/// A WebSocket client of the <c>gateway.v1.json</c> protocol (docs/websocket-protocol.md) through the test server.
/// A background loop reads every frame into a queue, so waiting for a frame with a deadline never cancels (and so
/// never aborts) the socket's own receive.
/// </summary>
internal sealed class SocketClient : IAsyncDisposable
{
    public const string SubProtocol = "gateway.v1.json";

    /// <summary>How long a frame the server owes is waited for; a safety net, never a timing assumption.</summary>
    public static readonly TimeSpan FrameTimeout = TimeSpan.FromSeconds(5);

    private readonly Channel<JsonElement> _frames = Channel.CreateUnbounded<JsonElement>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;
    private int _pings;

    private SocketClient(WebSocket socket)
    {
        Socket = socket;
        _reader = Task.Run(ReadLoopAsync);
    }

    public WebSocket Socket { get; }

    /// <summary>The close status the server sent, once it closed the socket.</summary>
    public WebSocketCloseStatus? CloseStatus { get; private set; }

    public string? CloseDescription { get; private set; }

    /// <summary>The URL of a vhost's socket, the vhost escaped as one path segment.</summary>
    public static Uri Url(string vhost) => new($"ws://localhost/api/vhosts/{Uri.EscapeDataString(vhost)}/ws");

    /// <summary>
    /// Opens a socket to <paramref name="vhost"/>, offering the <c>gateway.v1.json</c> subprotocol; <paramref name="configure"/>
    /// adds request headers (Authorization, Origin), <paramref name="query"/> a query string (<c>?ticket=…</c>).
    /// </summary>
    public static async Task<SocketClient> ConnectAsync(WebApplicationFactory<Program> factory, string vhost,
        Action<Microsoft.AspNetCore.Http.HttpRequest>? configure = null, string? query = null)
    {
        var client = factory.Server.CreateWebSocketClient();
        client.SubProtocols.Add(SubProtocol);
        if (configure is not null) client.ConfigureRequest = configure;
        using var timeout = new CancellationTokenSource(FrameTimeout);
        return new SocketClient(await client.ConnectAsync(new Uri(Url(vhost) + (query ?? "")), timeout.Token));
    }

    /// <summary>Opens a socket with a bearer key.</summary>
    public static Task<SocketClient> ConnectWithKeyAsync(WebApplicationFactory<Program> factory, string vhost, string key,
        string? origin = null) =>
        ConnectAsync(factory, vhost, request =>
        {
            request.Headers.Authorization = "Bearer " + key;
            if (origin is not null) request.Headers.Origin = origin;
        });

    /// <summary>The HTTP status of an upgrade the server refused (the test server reports it in the handshake's failure).</summary>
    public static async Task<int> RefusedStatusAsync(Func<Task<SocketClient>> connect)
    {
        try
        {
            await using var socket = await connect();
        }
        catch (InvalidOperationException e) when (e.Message.Contains("status code", StringComparison.OrdinalIgnoreCase))
        {
            return int.Parse(e.Message[(e.Message.LastIndexOf(' ') + 1)..].Trim('.'), System.Globalization.CultureInfo.InvariantCulture);
        }
        Assert.Fail("The server accepted the WebSocket it should have refused.");
        return 0;
    }

    /// <summary>Sends <paramref name="frame"/> serialized as camelCase JSON in one text frame.</summary>
    public Task SendAsync(object frame) =>
        SendRawAsync(JsonSerializer.SerializeToUtf8Bytes(frame, GatewayFactory.Json), WebSocketMessageType.Text);

    /// <summary>Sends exactly <paramref name="text"/> in one text frame (for malformed frames).</summary>
    public Task SendTextAsync(string text) => SendRawAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    /// <summary>Sends one binary frame.</summary>
    public Task SendBinaryAsync(byte[] bytes) => SendRawAsync(bytes, WebSocketMessageType.Binary);

    private async Task SendRawAsync(byte[] bytes, WebSocketMessageType type)
    {
        using var timeout = new CancellationTokenSource(FrameTimeout);
        await Socket.SendAsync(bytes, type, endOfMessage: true, timeout.Token);
    }

    /// <summary>The next frame from the server; fails when none arrives within <see cref="FrameTimeout"/> or the socket ends.</summary>
    public async Task<JsonElement> ReceiveAsync()
    {
        using var timeout = new CancellationTokenSource(FrameTimeout);
        try
        {
            return await _frames.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            Assert.Fail($"No frame arrived within {FrameTimeout.TotalSeconds} s.");
            throw;
        }
        catch (ChannelClosedException e)
        {
            Assert.Fail($"The socket ended instead of sending a frame (close status {CloseStatus?.ToString() ?? "none"} " +
                        $"'{CloseDescription}'{(e.InnerException is null ? "" : ", " + e.InnerException.Message)}).");
            throw;
        }
    }

    /// <summary>The next frame, asserted to have <c>type</c> <paramref name="type"/>.</summary>
    public async Task<JsonElement> ExpectAsync(string type)
    {
        var frame = await ReceiveAsync();
        Assert.True(frame.Type() == type, $"Expected a '{type}' frame, got {frame.GetRawText()}");
        return frame;
    }

    /// <summary>Sends <paramref name="frame"/> and answers the next frame.</summary>
    public async Task<JsonElement> RequestAsync(object frame)
    {
        await SendAsync(frame);
        return await ReceiveAsync();
    }

    /// <summary>The next <paramref name="count"/> frames, each asserted to be a delivery.</summary>
    public async Task<List<JsonElement>> DeliveriesAsync(int count)
    {
        var deliveries = new List<JsonElement>();
        for (var i = 0; i < count; i++) deliveries.Add(await ExpectAsync("delivery"));
        return deliveries;
    }

    /// <summary>
    /// A barrier: sends a ping and asserts that the very next frame is its pong. Frames are processed in order, so
    /// every frame sent before has been handled, and nothing else (no delivery, no error) arrived meanwhile.
    /// </summary>
    public async Task PingAsync()
    {
        var id = $"ping-{Interlocked.Increment(ref _pings)}";
        var frame = await RequestAsync(new { type = "ping", id });
        Assert.True(frame.Type() == "pong" && frame.TryGetProperty("id", out var echoed) && echoed.ValueKind == JsonValueKind.String &&
                    echoed.GetString() == id, $"Expected the pong of '{id}' with nothing before it, got {frame.GetRawText()}");
    }

    /// <summary>Starts a normal close and waits until the server has answered it (or ended the socket).</summary>
    public async Task CloseAsync()
    {
        using var timeout = new CancellationTokenSource(FrameTimeout);
        if (Socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
        await _reader.WaitAsync(FrameTimeout);
    }

    /// <summary>Waits until the server has closed the socket (every frame it sent before stays readable).</summary>
    public async Task WaitForServerCloseAsync(TimeSpan? timeout = null)
    {
        var limit = timeout ?? FrameTimeout;
        try
        {
            await _reader.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"The server did not close the socket within {limit.TotalSeconds} s.");
        }
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (true)
            {
                var result = await Socket.ReceiveAsync(new ArraySegment<byte>(buffer), _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseStatus = result.CloseStatus;
                    CloseDescription = result.CloseStatusDescription;
                    _frames.Writer.TryComplete();
                    return;
                }
                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage) continue;
                if (result.MessageType != WebSocketMessageType.Text)
                    throw new InvalidDataException("The server sent a binary frame; gateway.v1.json frames are text.");
                // Parse validates UTF-8 and JSON: a server frame that is neither ends the stream with the reason.
                _frames.Writer.TryWrite(JsonDocument.Parse(message.ToArray()).RootElement.Clone());
                message.SetLength(0);
            }
        }
        catch (Exception e)
        {
            _frames.Writer.TryComplete(e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Socket.State == WebSocketState.Open) await CloseAsync();
        }
        catch (Exception e) when (e is WebSocketException or TimeoutException or OperationCanceledException or InvalidOperationException)
        {
            // Cleanup only: a socket the test left broken is aborted below.
        }
        _stop.Cancel();
        Socket.Abort();
        try { await _reader.WaitAsync(FrameTimeout); } catch (TimeoutException) { }
        Socket.Dispose();
        _stop.Dispose();
    }
}

/// <summary>Reading <c>gateway.v1.json</c> frames.</summary>
internal static class SocketFrames
{
    public static string? Type(this JsonElement frame) =>
        frame.ValueKind == JsonValueKind.Object && frame.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;

    /// <summary>A string field, failing with the frame when it is missing or not a string.</summary>
    public static string Str(this JsonElement frame, string name)
    {
        Assert.True(frame.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String,
            $"Expected a string '{name}' in {frame.GetRawText()}");
        return value.GetString()!;
    }

    /// <summary>The delivery's tag, as received (sent back unchanged, whatever its JSON type).</summary>
    public static JsonElement Tag(this JsonElement delivery)
    {
        Assert.True(delivery.TryGetProperty("deliveryTag", out var tag), $"No deliveryTag in {delivery.GetRawText()}");
        return tag.Clone();
    }

    /// <summary>Asserts an <c>error</c> frame with <paramref name="status"/>, a detail, and the request's id (or no id).</summary>
    public static void IsError(this JsonElement frame, int status, string? id = null)
    {
        var raw = frame.GetRawText();
        Assert.True(frame.Type() == "error", $"Expected an error frame, got {raw}");
        Assert.True(frame.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.Number && s.GetInt32() == status,
            $"Expected status {status}: {raw}");
        Assert.True(frame.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(d.GetString()),
            $"The error has no detail: {raw}");
        if (id is null)
            Assert.False(frame.TryGetProperty("id", out _), $"The error should have no id (the request had none): {raw}");
        else
            Assert.True(frame.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String && i.GetString() == id,
                $"Expected the request's id '{id}': {raw}");
    }
}
