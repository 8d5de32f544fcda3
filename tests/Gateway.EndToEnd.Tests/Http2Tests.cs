using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Xunit.Abstractions;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// HTTP/2 by configuration, through Kestrel's own endpoint settings (README "HTTP/2"): cleartext HTTP/2 with prior
/// knowledge on an endpoint of its own beside the HTTP/1.1 one, and HTTP/2 negotiated by ALPN over TLS. Many publishes
/// travel at once as streams of one connection.
/// </summary>
public sealed class Http2Tests(ITestOutputHelper output)
{
    private const int Streams = 64;

    private static async Task<int> PublishManyAsync(HttpClient client, string queue)
    {
        var answers = await Task.WhenAll(Enumerable.Range(0, Streams).Select(i =>
            client.PostAsJsonAsync("api/vhosts/default/exchanges/amq.default/publish", new { routingKey = queue, payload = $"m{i}" })));
        foreach (var answer in answers)
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.Equal(HttpVersion.Version20, answer.Version);
        }
        return answers.Length;
    }

    [Fact]
    public async Task Cleartext_HTTP2_with_prior_knowledge_carries_many_publishes_on_one_connection_beside_HTTP1()
    {
        var h2c = GatewayProcess.FreeLoopbackPort();
        await using var gateway = await GatewayProcess.StartAsync(output, new Dictionary<string, string>
        {
            ["Kestrel:Endpoints:Http:Url"] = "http://127.0.0.1:{port}",
            ["Kestrel:Endpoints:H2c:Url"] = $"http://127.0.0.1:{h2c}",
            ["Kestrel:Endpoints:H2c:Protocols"] = "Http2",
        });
        await gateway.Api.DeclareQueueAsync("h2c");
        using var client = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = false })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{h2c}/"),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, // prior knowledge: no upgrade, no HTTP/1.1
        };

        Assert.Equal(Streams, await PublishManyAsync(client, "h2c"));

        Assert.Equal(Streams, (await gateway.Api.GetQueueAsync("h2c")).Messages);
        using var http1 = await gateway.Http.GetAsync("api/vhosts"); // the HTTP/1.1 endpoint serves on
        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version11), (http1.StatusCode, http1.Version));
    }

    [Fact]
    public async Task HTTPS_negotiates_HTTP2_by_ALPN()
    {
        var folder = Directory.CreateTempSubdirectory("gateway-tls-").FullName;
        try
        {
            using var key = RSA.Create(2048);
            var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            var pfx = Path.Combine(folder, "gateway.pfx");
            await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pfx, "test-password"));
            var https = GatewayProcess.FreeLoopbackPort();
            await using var gateway = await GatewayProcess.StartAsync(output, new Dictionary<string, string>
            {
                ["Kestrel:Endpoints:Http:Url"] = "http://127.0.0.1:{port}",
                ["Kestrel:Endpoints:Https:Url"] = $"https://127.0.0.1:{https}",
                ["Kestrel:Certificates:Default:Path"] = pfx,
                ["Kestrel:Certificates:Default:Password"] = "test-password",
            });
            await gateway.Api.DeclareQueueAsync("tls");
            var thumbprint = certificate.Thumbprint;
            using var client = new HttpClient(new SocketsHttpHandler
            {
                SslOptions = { RemoteCertificateValidationCallback = (_, presented, _, _) => presented is X509Certificate2 c && c.Thumbprint == thumbprint },
            })
            {
                BaseAddress = new Uri($"https://127.0.0.1:{https}/"),
                DefaultRequestVersion = HttpVersion.Version20,
                DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower, // HTTP/2 only if the server offers it in ALPN
            };

            Assert.Equal(Streams, await PublishManyAsync(client, "tls"));
            Assert.Equal(Streams, (await gateway.Api.GetQueueAsync("tls")).Messages);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
