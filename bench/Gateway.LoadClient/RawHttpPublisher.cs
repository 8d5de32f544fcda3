using System.Net.Sockets;
using System.Text;

/// <summary>
/// HTTP/1.1 POSTs written on sockets by hand, the way wrk does: the request bytes and when an answer is complete. Shared
/// by <see cref="RawHttpPublisher"/> and the event loop (<see cref="EventLoopLatency"/>).
/// </summary>
internal static class RawHttp
{
    /// <summary>The request line and headers up to the Content-Length value, for POSTs of JSON to <paramref name="path"/>.</summary>
    public static byte[] Head(Uri server, string path, string? key) =>
        Encoding.ASCII.GetBytes($"POST {path} HTTP/1.1\r\nHost: {server.Authority}\r\n" +
            (key is null ? "" : $"Authorization: Bearer {key}\r\n") + "Content-Type: application/json\r\nContent-Length: ");

    /// <summary>Writes the whole request (head, length, blank line, body) into <paramref name="request"/>; answers its length.</summary>
    public static int Write(byte[] head, ReadOnlySpan<byte> body, byte[] request)
    {
        head.CopyTo(request, 0);
        var length = head.Length + Encoding.ASCII.GetBytes($"{body.Length}\r\n\r\n", request.AsSpan(head.Length));
        body.CopyTo(request.AsSpan(length));
        return length + body.Length;
    }

    /// <summary>
    /// Whether the first <paramref name="read"/> bytes hold a whole answer: headers, then Content-Length bytes of body
    /// or the last chunk. Throws unless the status is 2xx.
    /// </summary>
    public static bool IsComplete(byte[] buffer, int read)
    {
        var headerEnd = buffer.AsSpan(0, read).IndexOf("\r\n\r\n"u8);
        if (headerEnd < 0) return false;
        if (buffer[9] != (byte)'2')
            throw new HttpRequestException($"The publish was answered: {Encoding.ASCII.GetString(buffer, 0, Math.Min(read, 64))}");
        var headers = buffer.AsSpan(0, headerEnd);
        if (headers.IndexOf("Transfer-Encoding: chunked"u8) >= 0) return buffer.AsSpan(headerEnd, read - headerEnd).EndsWith("\r\n0\r\n\r\n"u8);
        var marker = headers.IndexOf("Content-Length:"u8);
        if (marker < 0) return true;
        var value = headers[(marker + 15)..];
        var end = value.IndexOf("\r\n"u8);
        return read >= headerEnd + 4 + int.Parse(Encoding.ASCII.GetString(end < 0 ? value : value[..end]).Trim());
    }
}

/// <summary>
/// One keep-alive HTTP/1.1 connection that POSTs JSON bodies and reads each answer (<see cref="RawHttp"/>): the latency
/// scenario's publishers share the server's two cores, and HttpClient's own machinery cost them ~50 µs of CPU per
/// request there (half of what the gateway spends on the publish), so the measured tail was largely the load
/// client's. The requests are the same bytes any HTTP client sends (Content-Length, bearer key, JSON).
/// </summary>
internal sealed class RawHttpPublisher : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _head;
    private readonly byte[] _buffer = new byte[16 * 1024];
    private readonly byte[] _request = new byte[4096];

    private RawHttpPublisher(Socket socket, byte[] head)
    {
        _socket = socket;
        _head = head;
    }

    /// <param name="baseUrl">http://host:port</param>
    /// <param name="path">The path to POST to.</param>
    /// <param name="key">The bearer key, or null.</param>
    public static async Task<RawHttpPublisher> ConnectAsync(string baseUrl, string path, string? key)
    {
        var uri = new Uri(baseUrl);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(uri.Host, uri.Port);
        return new RawHttpPublisher(socket, RawHttp.Head(uri, path, key));
    }

    /// <summary>Sends the body and waits for the whole answer; throws unless the status is 2xx.</summary>
    public async Task PostAsync(ReadOnlyMemory<byte> body)
    {
        await _socket.SendAsync(_request.AsMemory(0, RawHttp.Write(_head, body.Span, _request)));
        var read = 0;
        while (!RawHttp.IsComplete(_buffer, read))
        {
            var n = await _socket.ReceiveAsync(_buffer.AsMemory(read));
            if (n == 0) throw new IOException("The gateway closed the connection.");
            read += n;
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
