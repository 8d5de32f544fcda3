using Gateway.Testing;
using System.Net;

namespace Gateway.Server.Tests;

/// <summary>
/// Server-side request forgery: with the default configuration (no allowed networks) webhooks reach public addresses
/// only; loopback, private, link-local and cloud-metadata addresses are refused when written in the URL, and when a
/// name resolves to one at connect time.
/// </summary>
public sealed class WebhookSafetyTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    private readonly HttpClient _client = factory.CreateClient();

    [Theory]
    [InlineData("http://127.0.0.1:8080/admin", "loopback")]
    [InlineData("http://127.9.9.9/", "loopback")]
    [InlineData("http://[::1]:8080/", "loopback")]
    [InlineData("http://[::ffff:127.0.0.1]/", "loopback")]
    [InlineData("http://10.0.0.5/hook", "private")]
    [InlineData("http://192.168.1.1/", "private")]
    [InlineData("http://172.20.0.1/", "private")]
    [InlineData("http://169.254.169.254/latest/meta-data/", "cloud metadata")]
    [InlineData("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata")]
    [InlineData("http://169.254.1.1/", "link-local")]
    [InlineData("http://[fe80::1]/", "link-local")]
    [InlineData("http://[fd12:3456::1]/", "unique local (private)")]
    [InlineData("http://0.0.0.0/", "this-network")]
    public async Task A_url_naming_an_address_that_is_not_public_is_refused(string url, string kind)
    {
        var vhost = await _client.CreateVhostAsync("ssrf");
        await _client.DeclareQueueAsync(vhost, "q");

        var response = await _client.PutJsonAsync(WebhookApi.Webhook(vhost, "q", "hook"), new { url });

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "validation");
        Assert.Contains($"a {kind} address", problem.Detail());
        Assert.Contains("Gateway:Webhooks:AllowedNetworks", problem.Detail());
    }

    [Fact]
    public async Task A_name_that_resolves_to_loopback_is_refused_at_connect_time_and_nothing_is_sent()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var vhost = await _client.CreateVhostAsync("ssrf");
        await _client.DeclareQueueAsync(vhost, "q");
        // Accepted when defined (a name says nothing until it is resolved), refused when connecting.
        await _client.PutWebhookAsync(vhost, "q", "hook", new
        {
            url = $"http://localhost:{receiver.Port}/hook", retry = new { initialIntervalMilliseconds = 10, maxIntervalMilliseconds = 10, maxAttempts = 2 },
        });

        await _client.PublishToQueueAsync(vhost, "q", "for localhost");

        var webhook = await _client.WaitForWebhookAsync(vhost, "q", "hook", w => w.Status.Failed == 1, "the delivery refused");
        Assert.Contains("Refused: 'localhost' resolves only to addresses webhooks may not reach", webhook.Status.RecentFailures[0].Error);
        Assert.Contains("(loopback)", webhook.Status.RecentFailures[0].Error);
        Assert.Empty(receiver.Requests);
    }

    [Fact]
    public async Task Public_addresses_and_names_are_accepted()
    {
        var vhost = await _client.CreateVhostAsync("ssrf");
        await _client.DeclareQueueAsync(vhost, "q");

        await _client.PutWebhookAsync(vhost, "q", "by-ip", new { url = "https://93.184.215.14/hook", enabled = false });
        await _client.PutWebhookAsync(vhost, "q", "by-name", new { url = "https://hooks.example.com/hook", enabled = false });
    }
}

/// <summary>An allow-list opens the networks it names, and only those; metadata addresses need an exact entry.</summary>
public sealed class WebhookAllowListTests(WebhookGateway gateway) : IClassFixture<WebhookGateway>
{
    private readonly HttpClient _client = gateway.Factory.CreateClient();

    [Theory]
    [InlineData("http://127.0.0.2/", "loopback")]
    [InlineData("http://[::1]/", "loopback")]
    [InlineData("http://169.254.169.254/", "cloud metadata")]
    public async Task Addresses_outside_the_allowed_networks_stay_refused(string url, string kind)
    {
        var vhost = await _client.CreateVhostAsync("allow");
        await _client.DeclareQueueAsync(vhost, "q");

        var problem = await ProblemAssert.IsProblemAsync(await _client.PutJsonAsync(WebhookApi.Webhook(vhost, "q", "hook"), new { url }),
            HttpStatusCode.BadRequest, "validation");

        Assert.Contains($"a {kind} address", problem.Detail());
    }

    [Fact]
    public async Task An_address_inside_an_allowed_network_is_accepted()
    {
        var vhost = await _client.CreateVhostAsync("allow");
        await _client.DeclareQueueAsync(vhost, "q");

        await _client.PutWebhookAsync(vhost, "q", "hook", new { url = "http://127.0.0.1:1/hook", enabled = false });
    }
}

// Bad webhook settings stopping the start, naming the setting: tests/Gateway.EndToEnd.Tests/ConfigurationTests.cs (the real
// process; Program catches the failure to print it and exit 1, which an in-process test host cannot observe).
