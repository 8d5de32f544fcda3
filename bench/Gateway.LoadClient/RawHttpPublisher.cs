using System.Net.Sockets;
using System.Text;

/// <summary>
/// One keep-alive HTTP/1.1 connection that POSTs JSON bodies and reads each answer, written on a socket by hand the way
/// wrk does: the latency scenario's publishers share the server's two cores, and HttpClient's own machinery cost them
/// ~50 µs of CPU per request there (half of what the gateway spends on the publish), so the measured tail was largely
/// the load client's. The requests are the same bytes any HTTP client sends (Content-Length, bearer key, JSON).
/// </summary>
internal sealed class RawHttpPublisher : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _head;
    private readonly byte[] _buffer = new byte[16 * 1024];

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
        var head = $"POST {path} HTTP/1.1\r\nHost: {uri.Authority}\r\n" +
                   (key is null ? "" : $"Authorization: Bearer {key}\r\n") +
                   "Content-Type: application/json\r\nContent-Length: ";
        return new RawHttpPublisher(socket, Encoding.ASCII.GetBytes(head));
    }

    /// <summary>Sends the body and waits for the whole answer; throws unless the status is 2xx.</summary>
    public async Task PostAsync(ReadOnlyMemory<byte> body)
    {
        var request = new byte[_head.Length + 16 + body.Length];
        _head.CopyTo(request, 0);
        var length = _head.Length + Encoding.ASCII.GetBytes($"{body.Length}\r\n\r\n", request.AsSpan(_head.Length));
        body.Span.CopyTo(request.AsSpan(length));
        length += body.Length;
        await _socket.SendAsync(request.AsMemory(0, length));

        // The answer: a status line and headers up to the blank line, then Content-Length bytes of body.
        var read = 0;
        int headerEnd;
        while ((headerEnd = _buffer.AsSpan(0, read).IndexOf("\r\n\r\n"u8)) < 0)
        {
            var n = await _socket.ReceiveAsync(_buffer.AsMemory(read));
            if (n == 0) throw new IOException("The gateway closed the connection.");
            read += n;
        }
        var headers = Encoding.ASCII.GetString(_buffer, 0, headerEnd);
        if (headers.Length < 12 || headers[9] != '2') throw new HttpRequestException($"The publish was answered: {headers.Split("\r\n")[0]}");
        if (headers.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
        {
            // A chunked answer ends with the last chunk, "0" and a blank line.
            while (!_buffer.AsSpan(headerEnd, read - headerEnd).EndsWith("\r\n0\r\n\r\n"u8))
            {
                var n = await _socket.ReceiveAsync(_buffer.AsMemory(read));
                if (n == 0) throw new IOException("The gateway closed the connection.");
                read += n;
            }
            return;
        }
        var marker = headers.IndexOf("Content-Length:", StringComparison.OrdinalIgnoreCase);
        var contentLength = marker < 0 ? 0 : int.Parse(headers.AsSpan(marker + 15, (headers.IndexOf('\r', marker) is var end and >= 0 ? end : headers.Length) - marker - 15).Trim());
        var total = headerEnd + 4 + contentLength;
        while (read < total)
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
