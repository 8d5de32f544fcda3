using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

/// <summary>
/// The latency scenario's load generator written the way wrk2 is: one thread, one event loop over the sockets (the
/// HTTP publishers' keep-alive connections and the consuming WebSocket), woken by <c>ppoll</c> either when a socket has
/// data (it is read only then, so it never blocks) or when the next message is due. Message k is due at
/// start + k / rate — evenly spaced, not in bursts on a 1 ms timer tick — and both its latencies are measured from that
/// due time, so a message that had to wait for a free connection counts the wait (no coordinated omission).
///
/// Why one thread: the gateway and its load generator share this machine's two cores, and each thread hand-off in the
/// generator costs a context switch. The thread-pool load generator (<see cref="Scenarios.LatencyAsync"/>: sixteen
/// async publishers on .NET timers plus ClientWebSocket) uses ~0.65 of a core at 10,000 msg/s, this one ~0.5. Evenly
/// spaced requests cost the server more wake-ups than bursts do, though, so its tails are longer, for a trivial
/// endpoint too (bench/README.md, "WebSocket delivery"): both generators are reported. The bytes on the wire are the
/// same: HTTP/1.1 POSTs with a bearer key and a JSON body, and an RFC 6455 WebSocket speaking gateway.v1.json.
/// </summary>
internal static unsafe class EventLoopLatency
{
    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd { public int Fd; public short Events; public short Revents; }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec { public long Seconds; public long Nanoseconds; }

    [DllImport("libc", SetLastError = true)]
    private static extern int ppoll(PollFd* fds, nuint count, Timespec* timeout, IntPtr signalMask);

    private const short PollIn = 1;

    private sealed class Publisher(Socket socket)
    {
        public readonly Socket Socket = socket;
        public readonly byte[] Buffer = new byte[16 * 1024];
        public int Read;
        public long Due = -1; // the in-flight message's due time; -1 when idle
    }

    public static void Run(string baseUrl, string? key, int rate, int seconds, int connections, bool consume, string label, bool overWebSocket = false)
    {
        var uri = new Uri(baseUrl);
        const string path = "/api/vhosts/default/exchanges/amq.default/publish";
        var head = RawHttp.Head(uri, path, key);

        // Over a WebSocket: one socket publishes every message as it is due (publish frames, answered by confirms in
        // order), instead of one HTTP request per message on the connections.
        var publishers = overWebSocket ? [] : Enumerable.Range(0, connections).Select(_ => new Publisher(Connect(uri))).ToArray();
        var pub = overWebSocket ? OpenWebSocket(uri, key) : null;
        var pubBuffer = new byte[1 << 20];
        var pubRead = 0;
        var ws = consume ? OpenWebSocket(uri, key) : null;
        if (ws is not null) SendText(ws, """{"type":"subscribe","id":"l","queue":"lat-bench","prefetch":100,"ackMode":"auto"}""");
        var wsBuffer = new byte[1 << 20];
        var wsRead = 0;

        var total = (long)rate * seconds;
        var deliveries = new List<double>((int)total);
        var roundTrips = new List<double>((int)total);
        var toMicroseconds = 1_000_000.0 / Stopwatch.Frequency;
        var interval = Stopwatch.Frequency / (double)rate;
        var start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 10;
        var deadline = start + (long)((seconds + 30) * (double)Stopwatch.Frequency);
        long next = 0; // the next message to send
        var request = new byte[4096];
        var fds = stackalloc PollFd[connections + 2];
        // LATENCY_DUMP=<file>: each publish's due time and round trip (µs), to see whether slow ones come in episodes.
        using var dump = Environment.GetEnvironmentVariable("LATENCY_DUMP") is { } file ? new StreamWriter(file) : null;

        while (consume ? deliveries.Count < total : roundTrips.Count < total)
        {
            var now = Stopwatch.GetTimestamp();
            if (now > deadline) throw new TimeoutException($"{deliveries.Count:N0} of {total:N0} deliveries arrived.");

            for (; pub is not null && next < total && start + (long)(next * interval) <= now; next++)
                SendText(pub, "{\"type\":\"publish\",\"id\":\"" + next + "\",\"routingKey\":\"lat-bench\",\"payload\":\"" +
                              (start + (long)(next * interval)) + "\"}");
            // Send every message that is due on an idle connection.
            for (var p = 0; next < total && p < publishers.Length; p++)
            {
                var publisher = publishers[p];
                var due = start + (long)(next * interval);
                if (due > now) break;
                if (publisher.Due >= 0) continue;
                var json = Encoding.ASCII.GetBytes("{\"routingKey\":\"lat-bench\",\"payload\":\"" + due + "\"}");
                SendAll(publisher.Socket, request.AsSpan(0, RawHttp.Write(head, json, request)));
                publisher.Due = due;
                next++;
                p = -1; // the next message may be due too: look from the first connection again
            }

            // Wait for an answer, a delivery or the next due time, whichever is first.
            var count = 0;
            if (ws is not null) fds[count++] = new PollFd { Fd = (int)ws.Handle, Events = PollIn };
            var pubIndex = count;
            if (pub is not null) fds[count++] = new PollFd { Fd = (int)pub.Handle, Events = PollIn };
            var firstPublisher = count;
            foreach (var publisher in publishers)
                if (publisher.Due >= 0) fds[count++] = new PollFd { Fd = (int)publisher.Socket.Handle, Events = PollIn };
            var anyIdle = publishers.Any(p => p.Due < 0);
            Timespec timeout;
            var wait = next < total && (anyIdle || pub is not null) ? start + (long)(next * interval) - Stopwatch.GetTimestamp() : Stopwatch.Frequency / 10;
            if (wait < 0) wait = 0;
            var nanoseconds = (long)(wait * (1_000_000_000.0 / Stopwatch.Frequency));
            timeout.Seconds = nanoseconds / 1_000_000_000;
            timeout.Nanoseconds = nanoseconds % 1_000_000_000;
            if (ppoll(fds, (nuint)count, &timeout, IntPtr.Zero) < 0 && Marshal.GetLastPInvokeError() != 4 /* EINTR */)
                throw new IOException($"ppoll failed: {Marshal.GetLastPInvokeError()}");

            if (ws is not null && fds[0].Revents != 0)
            {
                wsRead += Receive(ws, wsBuffer, wsRead);
                var received = Stopwatch.GetTimestamp();
                wsRead = ConsumeFrames(wsBuffer, wsRead, payload =>
                {
                    if (!payload.StartsWith("{\"type\":\"delivery\""u8)) return;
                    var at = payload.IndexOf("\"payload\":\""u8) + 11;
                    var end = payload[at..].IndexOf((byte)'"');
                    var due = long.Parse(Encoding.ASCII.GetString(payload.Slice(at, end)));
                    deliveries.Add((received - due) * toMicroseconds);
                });
            }
            if (pub is not null && fds[pubIndex].Revents != 0)
            {
                pubRead += Receive(pub, pubBuffer, pubRead);
                var received = Stopwatch.GetTimestamp();
                pubRead = ConsumeFrames(pubBuffer, pubRead, frame =>
                {
                    if (!frame.StartsWith("{\"type\":\"confirm\""u8)) throw new IOException("The publish was answered: " + Encoding.UTF8.GetString(frame));
                    var at = frame.IndexOf("\"id\":\""u8) + 6;
                    var k = long.Parse(Encoding.ASCII.GetString(frame.Slice(at, frame[at..].IndexOf((byte)'"'))));
                    roundTrips.Add((received - (start + (long)(k * interval))) * toMicroseconds);
                });
            }
            for (var i = firstPublisher; i < count; i++)
            {
                if (fds[i].Revents == 0) continue;
                var publisher = publishers.First(p => (int)p.Socket.Handle == fds[i].Fd);
                publisher.Read += Receive(publisher.Socket, publisher.Buffer, publisher.Read);
                if (!RawHttp.IsComplete(publisher.Buffer, publisher.Read)) continue;
                roundTrips.Add((Stopwatch.GetTimestamp() - publisher.Due) * toMicroseconds);
                dump?.WriteLine($"{(publisher.Due - start) * toMicroseconds:F0} {roundTrips[^1]:F0}");
                publisher.Read = 0;
                publisher.Due = -1;
            }
        }
        var elapsed = (Stopwatch.GetTimestamp() - start) / (double)Stopwatch.Frequency;
        foreach (var publisher in publishers) publisher.Socket.Dispose();
        ws?.Dispose();
        pub?.Dispose();

        Console.WriteLine($"RESULT|{label}|achieved_rate|{(consume ? deliveries.Count : roundTrips.Count) / elapsed:F1}|msg/s");
        if (consume) Scenarios.Report(label, "", deliveries);
        Scenarios.Report(label, "confirm_", roundTrips);
    }

    private static Socket Connect(Uri uri)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(uri.Host, uri.Port);
        return socket;
    }

    private static void SendAll(Socket socket, ReadOnlySpan<byte> data)
    {
        while (data.Length > 0) data = data[socket.Send(data)..];
    }

    private static int Receive(Socket socket, byte[] buffer, int offset)
    {
        var n = socket.Receive(buffer.AsSpan(offset));
        return n > 0 ? n : throw new IOException("The gateway closed the connection.");
    }

    // RFC 6455 opening handshake with the gateway.v1.json subprotocol; the socket stays blocking until it is open.
    private static Socket OpenWebSocket(Uri uri, string? key)
    {
        var socket = Connect(uri);
        var nonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        SendAll(socket, Encoding.ASCII.GetBytes($"GET /api/vhosts/default/ws HTTP/1.1\r\nHost: {uri.Authority}\r\nUpgrade: websocket\r\n" +
            $"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: gateway.v1.json\r\n" +
            (key is null ? "" : $"Authorization: Bearer {key}\r\n") + "\r\n"));
        var buffer = new byte[4096];
        var read = 0;
        while (buffer.AsSpan(0, read).IndexOf("\r\n\r\n"u8) < 0) read += Receive(socket, buffer, read);
        var answer = Encoding.ASCII.GetString(buffer, 0, read);
        if (!answer.StartsWith("HTTP/1.1 101")) throw new IOException("The WebSocket upgrade was refused: " + answer.Split("\r\n")[0]);
        if (read != answer.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4) throw new IOException("Frames arrived before the subscribe.");
        return socket;
    }

    // A client frame: FIN + text, masked as RFC 6455 requires of clients.
    private static void SendText(Socket socket, string text)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        if (payload.Length > ushort.MaxValue) throw new ArgumentException("Only frames up to 64 KiB are sent.");
        var header = payload.Length > 125 ? 4 : 2;
        var frame = new byte[header + 4 + payload.Length];
        frame[0] = 0x81;
        if (header == 2) frame[1] = (byte)(0x80 | payload.Length);
        else
        {
            frame[1] = 0x80 | 126;
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
        }
        RandomNumberGenerator.Fill(frame.AsSpan(header, 4));
        for (var i = 0; i < payload.Length; i++) frame[header + 4 + i] = (byte)(payload[i] ^ frame[header + i % 4]);
        SendAll(socket, frame);
    }

    // Hands each complete, unfragmented server frame's payload to `each`; returns the bytes of a partial frame left,
    // moved to the buffer's start.
    private delegate void PayloadAction(ReadOnlySpan<byte> payload);

    private static int ConsumeFrames(byte[] buffer, int read, PayloadAction each)
    {
        var at = 0;
        while (read - at >= 2)
        {
            var opcode = buffer[at] & 0x0F;
            long length = buffer[at + 1] & 0x7F;
            var header = 2;
            if (length == 126)
            {
                if (read - at < 4) break;
                length = BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(at + 2));
                header = 4;
            }
            else if (length == 127)
            {
                if (read - at < 10) break;
                length = (long)BinaryPrimitives.ReadUInt64BigEndian(buffer.AsSpan(at + 2));
                header = 10;
            }
            if (read - at < header + length) break;
            if (opcode == 8) throw new IOException("The gateway closed the WebSocket.");
            if (opcode == 1) each(buffer.AsSpan(at + header, (int)length));
            at += header + (int)length;
        }
        buffer.AsSpan(at, read - at).CopyTo(buffer);
        return read - at;
    }
}
