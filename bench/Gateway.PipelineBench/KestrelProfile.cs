using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Gateway.PipelineBench;

/// <summary>
/// The allocation profile of <see cref="AllocationProfile"/> on a real Kestrel server in this process, driven by raw
/// sockets that reuse their buffers (64 connections, one request in flight on each): what a publish allocates on the
/// server that production runs, without the test host's own objects. Usage: <c>dotnet run -c Release --project
/// bench/Gateway.PipelineBench -- --alloc-profile-kestrel [requests]</c>.
/// </summary>
internal static class KestrelProfile
{
    private const string Key = "gw_benchadminkey.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    public static async Task RunAsync(int requests)
    {
        var data = Directory.CreateTempSubdirectory("gateway-kestrel-").FullName;
        var port = FreePort();
        using var factory = new WebApplicationFactory<global::Program>().WithWebHostBuilder(b => b
            .UseContentRoot(AppContext.BaseDirectory)
            .UseSetting("Gateway:DataPath", data)
            .UseSetting("Gateway:Auth:BootstrapKey", Key)
            .UseSetting("Gateway:Amqp:Enabled", "false")
            .UseSetting("Logging:LogLevel:Default", "Warning")
            .UseSetting("urls", $"http://127.0.0.1:{port}"));
        factory.UseKestrel(port);
        factory.StartServer();
        try
        {
            await SendAsync(port, Request("PUT", "/api/vhosts/default/queues/bench", """{"durable":false,"arguments":{"x-max-length":1000}}"""), 1, 1);
            var publish = Request("POST", "/api/vhosts/default/exchanges/amq.default/publish", """{"routingKey":"bench","payload":"0123456789abcdef"}""");
            await SendAsync(port, publish, 64, 40_000);
            await AllocationProfile.MeasureAsync("Kestrel publish", requests, () => SendAsync(port, publish, 64, requests));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    private static byte[] Request(string method, string path, string body) => Encoding.ASCII.GetBytes(
        $"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {Key}\r\nContent-Type: application/json\r\n" +
        $"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}");

    // `total` requests over `connections` keep-alive connections; each answer must be 2xx with a Content-Length.
    private static async Task SendAsync(int port, byte[] request, int connections, int total)
    {
        var left = total;
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async _ =>
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(IPAddress.Loopback, port);
            var buffer = new byte[16 * 1024];
            while (Interlocked.Decrement(ref left) >= 0)
            {
                await socket.SendAsync(request, SocketFlags.None);
                await ReadAnswerAsync(socket, buffer);
            }
        }));
    }

    private static async Task ReadAnswerAsync(Socket socket, byte[] buffer)
    {
        var filled = 0;
        while (true)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
            if (read == 0) throw new IOException("The server closed the connection.");
            filled += read;
            var text = buffer.AsSpan(0, filled);
            var end = text.IndexOf("\r\n\r\n"u8);
            if (end < 0) continue;
            if (text[9] != (byte)'2') throw new InvalidOperationException("Not 2xx: " + Encoding.ASCII.GetString(text[..end]));
            var header = text[..end];
            var at = header.IndexOf("Content-Length: "u8);
            var length = 0;
            if (at >= 0)
                for (var i = at + 16; i < header.Length && header[i] is >= (byte)'0' and <= (byte)'9'; i++) length = length * 10 + header[i] - '0';
            if (filled >= end + 4 + length) return;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
