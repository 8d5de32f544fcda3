using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Xunit;

namespace Gateway.Testing;

/// <summary>
/// A WebSocket client of the <c>gateway.v1.json</c> protocol (docs/websocket-protocol.md) over any connected
/// <see cref="WebSocket"/>: the test server's, or a real <see cref="ClientWebSocket"/> against a Kestrel process
/// (<see cref="ConnectAsync(Uri, string, CancellationToken)"/>). A background loop reads every frame into a queue, so
/// waiting for a frame with a deadline never cancels (and so never aborts) the socket's own receive.
/// </summary>
public sealed class SocketClient : IAsyncDisposable
{
    public const string SubProtocol = "gateway.v1.json";

    /// <summary>How long a frame the server owes is waited for; a safety net, never a timing assumption.</summary>
    public static readonly TimeSpan FrameTimeout = TimeSpan.FromSeconds(10);

    /// <summary>camelCase, as the protocol.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly Channel<ServerMessage> _frames = Channel.CreateUnbounded<ServerMessage>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;
    private int _pings;

    /// <summary>Starts reading <paramref name="socket"/>, an open socket that speaks <c>gateway.v1.json</c>.</summary>
    public SocketClient(WebSocket socket)
    {
        Socket = socket;
        _reader = Task.Run(ReadLoopAsync);
    }

    public WebSocket Socket { get; }

    /// <summary>The close status the server sent, once it closed the socket.</summary>
    public WebSocketCloseStatus? CloseStatus { get; private set; }

    public string? CloseDescription { get; private set; }

    /// <summary>Why reading ended when it was not a close frame (the connection broke, or the server sent a bad frame).</summary>
    public Exception? ReadError { get; private set; }

    /// <summary>
    /// The URL of a vhost's socket on <paramref name="server"/> (an http or ws base address; the test server's
    /// <c>ws://localhost/</c> when null), the vhost escaped as one path segment.
    /// </summary>
    public static Uri Url(string vhost, Uri? server = null)
    {
        var builder = new UriBuilder(server ?? new Uri("ws://localhost/"));
        builder.Scheme = builder.Scheme is "https" or "wss" ? "wss" : "ws";
        builder.Path = $"/api/vhosts/{Uri.EscapeDataString(vhost)}/ws";
        return builder.Uri;
    }

    /// <summary>
    /// Opens a real <see cref="ClientWebSocket"/> to <paramref name="vhost"/> on the server at <paramref name="server"/>,
    /// offering the <c>gateway.v1.json</c> subprotocol.
    /// </summary>
    public static async Task<SocketClient> ConnectAsync(Uri server, string vhost = "default", CancellationToken cancellationToken = default)
    {
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol(SubProtocol);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(FrameTimeout);
        try
        {
            await socket.ConnectAsync(Url(vhost, server), timeout.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new SocketClient(socket);
    }

    /// <summary>Sends <paramref name="frame"/> serialized as camelCase JSON in one text frame.</summary>
    public Task SendAsync(object frame) => SendRawAsync(JsonSerializer.SerializeToUtf8Bytes(frame, Json), WebSocketMessageType.Text);

    /// <summary>Sends exactly <paramref name="text"/> in one text frame (for malformed frames).</summary>
    public Task SendTextAsync(string text) => SendRawAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text);

    /// <summary>Sends one binary frame of exactly <paramref name="bytes"/>.</summary>
    public Task SendBinaryAsync(byte[] bytes) => SendRawAsync(bytes, WebSocketMessageType.Binary);

    /// <summary>Sends one text frame of exactly <paramref name="bytes"/> (which need not be UTF-8).</summary>
    public Task SendTextBytesAsync(byte[] bytes) => SendRawAsync(bytes, WebSocketMessageType.Text);

    /// <summary>Sends a binary frame of the <c>payloadFormat: binary</c> layout: a header frame and the raw payload.</summary>
    public Task SendBinaryFrameAsync(object header, ReadOnlySpan<byte> payload) =>
        SendBinaryAsync(BinaryFrame.Compose(JsonSerializer.SerializeToUtf8Bytes(header, Json), payload));

    private async Task SendRawAsync(byte[] bytes, WebSocketMessageType type)
    {
        using var timeout = new CancellationTokenSource(FrameTimeout);
        await Socket.SendAsync(bytes, type, endOfMessage: true, timeout.Token);
    }

    /// <summary>The next message from the server, text or binary; fails when none arrives within <see cref="FrameTimeout"/> or the socket ends.</summary>
    public async Task<ServerMessage> ReceiveMessageAsync()
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

    /// <summary>The next frame from the server, asserted to be a JSON text frame.</summary>
    public async Task<JsonElement> ReceiveAsync()
    {
        var message = await ReceiveMessageAsync();
        Assert.True(message.Payload is null, $"Expected a text frame, got a binary frame with header {message.Frame.GetRawText()}");
        return message.Frame;
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

    /// <summary>Subscribes and asserts the <c>subscribed</c> answer; options left null are not sent.</summary>
    public async Task SubscribeAsync(string id = "s", string queue = "q", int? prefetch = null, string? ackMode = null, string? payloadFormat = null)
    {
        var frame = new Dictionary<string, object> { ["type"] = "subscribe", ["id"] = id, ["queue"] = queue };
        if (prefetch is not null) frame["prefetch"] = prefetch;
        if (ackMode is not null) frame["ackMode"] = ackMode;
        if (payloadFormat is not null) frame["payloadFormat"] = payloadFormat;
        var answer = await RequestAsync(frame);
        Assert.True(answer.Type() == "subscribed" && answer.Str("id") == id, $"Expected subscribed '{id}', got {answer.GetRawText()}");
    }

    /// <summary>Acknowledges <paramref name="delivery"/> (its tag sent back as received).</summary>
    public Task AckAsync(JsonElement delivery, bool multiple = false) =>
        SendAsync(new { type = "ack", deliveryTag = delivery.Tag(), multiple });

    /// <summary>Rejects <paramref name="delivery"/>.</summary>
    public Task NackAsync(JsonElement delivery, bool requeue, bool multiple = false) =>
        SendAsync(new { type = "nack", deliveryTag = delivery.Tag(), requeue, multiple });

    /// <summary>The next <paramref name="count"/> frames, each asserted to be a JSON delivery.</summary>
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

    /// <summary>
    /// Breaks the connection without a close handshake (as a crashed client or a pulled cable would): the TCP
    /// connection is reset, the server's next receive fails.
    /// </summary>
    public void Abort() => Socket.Abort();

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
                var bytes = message.ToArray();
                message.SetLength(0);
                // Parse validates UTF-8 and JSON: a server frame that is neither ends the stream with the reason.
                _frames.Writer.TryWrite(result.MessageType == WebSocketMessageType.Text
                    ? new ServerMessage(JsonDocument.Parse(bytes).RootElement.Clone(), null)
                    : BinaryFrame.Parse(bytes));
            }
        }
        catch (Exception e)
        {
            ReadError = e;
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

/// <summary>A frame from the server: its JSON (the header of a binary frame), and the raw payload of a binary frame.</summary>
public sealed record ServerMessage(JsonElement Frame, byte[]? Payload);

/// <summary>
/// The binary frame layout of <c>payloadFormat: binary</c> (docs/websocket-protocol.md): a 4-byte big-endian header
/// length, that many bytes of a UTF-8 JSON header, then the raw payload.
/// </summary>
public static class BinaryFrame
{
    public static byte[] Compose(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[4 + header.Length + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)header.Length);
        header.CopyTo(frame.AsSpan(4));
        payload.CopyTo(frame.AsSpan(4 + header.Length));
        return frame;
    }

    /// <summary>Splits a server's binary frame, failing (ending the read loop with the reason) when it breaks the layout.</summary>
    public static ServerMessage Parse(byte[] frame)
    {
        if (frame.Length < 4) throw new InvalidDataException($"A binary frame of {frame.Length} bytes has no header length.");
        var length = BinaryPrimitives.ReadUInt32BigEndian(frame);
        if (length > frame.Length - 4) throw new InvalidDataException($"A binary frame of {frame.Length} bytes announces a {length}-byte header.");
        var header = JsonDocument.Parse(frame.AsMemory(4, (int)length)).RootElement.Clone();
        return new ServerMessage(header, frame[(4 + (int)length)..]);
    }
}

/// <summary>Reading <c>gateway.v1.json</c> frames.</summary>
public static class SocketFrames
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

    /// <summary>The payloads of JSON deliveries, in order.</summary>
    public static List<string> Payloads(this IEnumerable<JsonElement> deliveries) => deliveries.Select(d => d.Str("payload")).ToList();

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
