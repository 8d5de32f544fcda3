using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using RabbitMQ.Client;

namespace Gateway.Amqp.Tests;

/// <summary>A gateway whose AMQP listener speaks TLS with a self-signed certificate made for the test.</summary>
public sealed class TlsAmqpGateway : AmqpGateway
{
    public string CertificatePath { get; } = Path.Combine(Path.GetTempPath(), $"gateway-amqp-tls-{Guid.NewGuid():N}.pfx");

    public TlsAmqpGateway()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllBytes(CertificatePath, certificate.Export(X509ContentType.Pkcs12, "test"));
        Settings["Gateway:Amqp:CertificatePath"] = CertificatePath;
        Settings["Gateway:Amqp:CertificatePassword"] = "test";
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        File.Delete(CertificatePath);
    }
}

public sealed class TlsTests(TlsAmqpGateway gateway) : IClassFixture<TlsAmqpGateway>
{
    [Fact]
    public async Task With_a_certificate_configured_the_listener_speaks_AMQPS()
    {
        var factory = gateway.Factory();
        factory.Ssl = new SslOption
        {
            Enabled = true,
            ServerName = "localhost",
            // The test's own self-signed certificate: its chain cannot be verified, its name can.
            AcceptablePolicyErrors = SslPolicyErrors.RemoteCertificateChainErrors,
        };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = (await channel.QueueDeclareAsync()).QueueName;
        await channel.BasicPublishAsync("", queue, "over tls"u8.ToArray());
        var got = await channel.BasicGetAsync(queue, autoAck: true);
        Assert.Equal("over tls", System.Text.Encoding.UTF8.GetString(got!.Body.Span));
    }

    [Fact]
    public async Task A_plain_AMQP_client_gets_no_AMQP_answer_from_a_TLS_listener()
    {
        await using var raw = await RawAmqp.ConnectAsync(gateway.AmqpPort);
        await raw.SendAsync(RawAmqp.Header);
        // The TLS handshake fails on the protocol header: the server closes without a connection.start.
        var answer = await raw.ReadToEndAsync();
        Assert.NotNull(answer);
        Assert.False(answer.Length >= 8 && answer[0] == 0x01, "A TLS listener answered plain AMQP with a method frame.");
    }
}
