using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Gateway.Amqp.Protocol;

namespace Gateway.Amqp.Tests;

/// <summary>One frame as read off the wire.</summary>
internal readonly record struct RawFrame(byte Type, ushort Channel, byte[] Payload)
{
    /// <summary>The (class &lt;&lt; 16 | method) id of a method frame.</summary>
    public uint Method => Type == 1 && Payload.Length >= 4 ? BinaryPrimitives.ReadUInt32BigEndian(Payload) : 0;

    /// <summary>The reply code of a connection.close or channel.close.</summary>
    public ushort ReplyCode => BinaryPrimitives.ReadUInt16BigEndian(Payload.AsSpan(4));
}

/// <summary>
/// A hand-driven AMQP 0-9-1 client over a plain socket, for what a well-behaved library never sends: malformed frames,
/// wrong sequences, silence. Frames are built with the server's own encoder (<see cref="FrameBuffer"/>).
/// </summary>
internal sealed class RawAmqp : IAsyncDisposable
{
    public static readonly byte[] Header = "AMQP\0\0\x09\x01"u8.ToArray();
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly TcpClient _client;
    private readonly NetworkStream _stream;

    private RawAmqp(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public static async Task<RawAmqp> ConnectAsync(int port)
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync("127.0.0.1", port);
        return new RawAmqp(client);
    }

    /// <summary>Connects and completes the handshake (PLAIN or AMQPLAIN) up to open-ok, and opens channel 1.</summary>
    public static async Task<RawAmqp> OpenAsync(int port, string user, string key, string vhost = "/", ushort heartbeat = 0, string mechanism = "PLAIN")
    {
        var raw = await ConnectAsync(port);
        await raw.SendAsync(Header);
        var start = await raw.ExpectAsync(MethodId.ConnectionStart);
        Assert.Contains("AMQPLAIN", Encoding.UTF8.GetString(start.Payload));
        byte[] response;
        if (mechanism == "PLAIN") response = Encoding.UTF8.GetBytes($"\0{user}\0{key}");
        else
        {
            var table = FieldTable.Encode(new Dictionary<string, object?> { ["LOGIN"] = user, ["PASSWORD"] = key });
            response = table[4..];
        }
        await raw.SendAsync(Method(0, MethodId.ConnectionStartOk, w =>
        {
            w.WriteTable(null);
            w.WriteShortStr(mechanism);
            w.WriteLongStr(response);
            w.WriteShortStr("en_US");
        }));
        await raw.ExpectAsync(MethodId.ConnectionTune);
        await raw.SendAsync(Method(0, MethodId.ConnectionTuneOk, w =>
        {
            w.WriteShort(2047);
            w.WriteLong(131072);
            w.WriteShort(heartbeat);
        }));
        await raw.SendAsync(Method(0, MethodId.ConnectionOpen, w =>
        {
            w.WriteShortStr(vhost);
            w.WriteShortStr("");
            w.WriteOctet(0);
        }));
        await raw.ExpectAsync(MethodId.ConnectionOpenOk);
        await raw.SendAsync(Method(1, MethodId.ChannelOpen, w => w.WriteShortStr("")));
        await raw.ExpectAsync(MethodId.ChannelOpenOk);
        return raw;
    }

    /// <summary>A method frame with fields written by <paramref name="fields"/>.</summary>
    public static byte[] Method(ushort channel, uint method, Action<FrameBuffer>? fields = null)
    {
        var w = new FrameBuffer(256);
        var at = w.BeginMethod(channel, method);
        fields?.Invoke(w);
        w.EndFrame(at);
        var bytes = w.Written.ToArray();
        w.Release();
        return bytes;
    }

    /// <summary>A frame of any type with a raw payload.</summary>
    public static byte[] Frame(byte type, ushort channel, ReadOnlySpan<byte> payload, byte end = 0xCE)
    {
        var bytes = new byte[payload.Length + 8];
        bytes[0] = type;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(1), channel);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(3), (uint)payload.Length);
        payload.CopyTo(bytes.AsSpan(7));
        bytes[^1] = end;
        return bytes;
    }

    public async Task SendAsync(byte[] bytes)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        await _stream.WriteAsync(bytes, timeout.Token);
    }

    /// <summary>Sends, tolerating a server that has already closed the socket.</summary>
    public async Task<bool> TrySendAsync(byte[] bytes)
    {
        try
        {
            await SendAsync(bytes);
            return true;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes; null when the server closed the socket first.</summary>
    public async Task<byte[]?> ReadBytesAsync(int count)
    {
        var buffer = new byte[count];
        using var timeout = new CancellationTokenSource(Timeout);
        try
        {
            await _stream.ReadExactlyAsync(buffer, timeout.Token);
            return buffer;
        }
        catch (EndOfStreamException)
        {
            return null;
        }
        catch (IOException)
        {
            return null; // reset by the server
        }
    }

    /// <summary>The next frame; null when the server closed the socket.</summary>
    public async Task<RawFrame?> ReadFrameAsync()
    {
        var header = await ReadBytesAsync(7);
        if (header is null) return null;
        var size = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(3));
        var rest = await ReadBytesAsync((int)size + 1);
        if (rest is null) return null;
        Assert.Equal(0xCE, rest[^1]);
        return new RawFrame(header[0], BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(1)), rest[..^1]);
    }

    /// <summary>Reads frames until <paramref name="method"/> arrives (failing on a close or the end of the socket).</summary>
    public async Task<RawFrame> ExpectAsync(uint method)
    {
        while (true)
        {
            var frame = await ReadFrameAsync() ?? throw new Xunit.Sdk.XunitException($"The server closed the socket before {method >> 16}.{method & 0xFFFF}.");
            if (frame.Method == method) return frame;
            if (frame.Method is MethodId.ConnectionClose or MethodId.ChannelClose)
                throw new Xunit.Sdk.XunitException($"Closed with {frame.ReplyCode} ({Encoding.UTF8.GetString(frame.Payload[7..])}) while waiting for {method >> 16}.{method & 0xFFFF}.");
        }
    }

    /// <summary>
    /// Reads until the server closes something: a connection.close (answered with close-ok), a channel.close, or the
    /// end of the socket (null).
    /// </summary>
    public async Task<RawFrame?> ReadUntilCloseAsync()
    {
        while (true)
        {
            var frame = await ReadFrameAsync();
            if (frame is null) return null;
            if (frame.Value.Method == MethodId.ConnectionClose)
            {
                await TrySendAsync(Method(0, MethodId.ConnectionCloseOk));
                return frame;
            }
            if (frame.Value.Method == MethodId.ChannelClose) return frame;
        }
    }

    /// <summary>Ends the sending side (the server reads the end of the stream); reading goes on.</summary>
    public void ShutdownSend()
    {
        try
        {
            _client.Client.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Reset by the server already.
        }
    }

    /// <summary>Every byte until the server closes the socket (null when it does not within the timeout).</summary>
    public async Task<byte[]?> ReadToEndAsync()
    {
        using var timeout = new CancellationTokenSource(Timeout);
        var all = new MemoryStream();
        try
        {
            await _stream.CopyToAsync(all, timeout.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (IOException)
        {
            // Reset by the server: what arrived before counts.
        }
        return all.ToArray();
    }

    /// <summary>Splits bytes received into frames; a trailing partial frame is returned as null.</summary>
    public static List<RawFrame?> SplitFrames(byte[] bytes)
    {
        var frames = new List<RawFrame?>();
        var at = 0;
        while (at < bytes.Length)
        {
            if (bytes.Length - at < 8) { frames.Add(null); break; }
            var size = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at + 3));
            if (bytes.Length - at < size + 8 || bytes[at + 7 + size] != 0xCE) { frames.Add(null); break; }
            frames.Add(new RawFrame(bytes[at], BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(at + 1)), bytes.AsSpan(at + 7, size).ToArray()));
            at += size + 8;
        }
        return frames;
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
