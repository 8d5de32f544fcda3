using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Broker;
using Gateway.Broker.Statistics;
using Gateway.Broker.Topology;
using Gateway.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Server.Tests;

/// <summary>
/// The server's side of the broker seam, whatever the backend: a feature the configured backend lacks answers 501
/// naming the backend and changes nothing; a backend out of reach answers 503 with Retry-After (HTTP) or an error frame
/// (WebSocket), and /readyz says why. The backend here is the embedded engine behind <see cref="LimitedBroker"/>,
/// which reports fewer features and can be switched off.
/// </summary>
public sealed class BackendRefusalTests : IClassFixture<BackendRefusalTests.LimitedGateway>
{
    private readonly LimitedGateway _factory;
    private readonly HttpClient _client;

    public BackendRefusalTests(LimitedGateway factory)
    {
        _factory = factory;
        _factory.Broker.Unavailable = false;
        _client = factory.CreateClient();
    }

    /// <summary>The embedded engine with only the AMQP model: no delays, leases that cannot be extended, no webhooks, no atomic batches.</summary>
    public sealed class LimitedBroker(MessageBroker inner) : IBroker
    {
        public const string Name = "Limited";

        /// <summary>When true, every call fails as a backend out of reach does.</summary>
        public volatile bool Unavailable;

        public BrokerFeatures Features { get; } = new(Name, BrokerFeature.Statistics | BrokerFeature.EventStreamResume);

        private IBroker Inner => Unavailable ? throw new BrokerUnavailableException("No node of the Limited backend is reachable.", TimeSpan.FromSeconds(3)) : inner;

        public ValueTask<BrokerHealth> CheckHealthAsync(CancellationToken cancellationToken = default) =>
            new(Unavailable ? new BrokerHealth(false, "no node reachable") : new BrokerHealth(true, "ok"));

        public ValueTask<IBrokerVhost?> GetVhostAsync(string name, CancellationToken cancellationToken = default) => Inner.GetVhostAsync(name, cancellationToken);
        public ValueTask<IReadOnlyList<string>> ListVhostsAsync(CancellationToken cancellationToken = default) => Inner.ListVhostsAsync(cancellationToken);
        public ValueTask<bool> CreateVhostAsync(string name, CancellationToken cancellationToken = default) => Inner.CreateVhostAsync(name, cancellationToken);
        public ValueTask DeleteVhostAsync(string name, CancellationToken cancellationToken = default) => Inner.DeleteVhostAsync(name, cancellationToken);

        public ValueTask<TopologyImportReport> ImportAsync(TopologyImport import, bool allOrNothing, bool dryRun, CancellationToken cancellationToken = default) =>
            Inner.ImportAsync(import, allOrNothing, dryRun, cancellationToken);

        public ValueTask<BrokerOverview> GetOverviewAsync(CancellationToken cancellationToken = default) => Inner.GetOverviewAsync(cancellationToken);
    }

    public sealed class LimitedGateway : GatewayFactory
    {
        public LimitedBroker Broker => (LimitedBroker)Services.GetRequiredService<IBroker>();

        protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureTestServices(services =>
                services.AddSingleton<IBroker>(sp => new LimitedBroker(sp.GetRequiredService<MessageBroker>())));
        }
    }

    private async Task<string> QueueWithMessageAsync()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        await _client.PublishToQueueAsync(vhost, "q", "m");
        return vhost;
    }

    private static async Task NotSupportedAsync(HttpResponseMessage response, string feature)
    {
        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotImplemented, "not-supported-by-backend");
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Contains(feature, detail);
        Assert.Contains($"the {LimitedBroker.Name} backend (Gateway:Backend)", detail);
    }

    [Fact]
    public async Task A_delayed_publish_is_refused_with_501_naming_the_backend_and_nothing_is_enqueued()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"),
            new { routingKey = "q", payload = "later", properties = new { headers = new Dictionary<string, object> { ["x-delay"] = 1000 } } });
        await NotSupportedAsync(response, "A delayed message (header x-delay)");

        using var raw = new HttpRequestMessage(HttpMethod.Post, Urls.PublishRaw(vhost, "amq.default", "q")) { Content = new StringContent("later") };
        raw.Headers.Add("Amqp-Header-x-delay", "1000");
        await NotSupportedAsync(await _client.SendAsync(raw), "A delayed message");

        var batch = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "amq.default"), new
        {
            messages = new object[]
            {
                new { routingKey = "q", payload = "now" },
                new { routingKey = "q", payload = "later", properties = new { headers = new Dictionary<string, object> { ["x-delay"] = 1000 } } },
            },
        });
        await NotSupportedAsync(batch, "A delayed message");
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).MessagesReady);
    }

    [Fact]
    public async Task A_nack_with_a_delay_is_refused_and_the_delivery_stays_leased_for_a_plain_nack()
    {
        var vhost = await QueueWithMessageAsync();
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));
        var response = await _client.PostJsonAsync(Urls.Nack(vhost, "q"), new { deliveryTags = new[] { delivery.DeliveryTag }, delayMilliseconds = 500 });
        await NotSupportedAsync(response, "A nack with delayMilliseconds");
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesUnacknowledged);

        var nack = await _client.PostJsonAsync(Urls.Nack(vhost, "q"), new { deliveryTags = new[] { delivery.DeliveryTag } });
        Assert.Equal(HttpStatusCode.NoContent, nack.StatusCode);
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesReady);
    }

    [Fact]
    public async Task Extending_a_lease_is_refused_with_501()
    {
        var vhost = await QueueWithMessageAsync();
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));
        var response = await _client.PostJsonAsync(Urls.Extend(vhost, "q"), new { deliveryTags = new[] { delivery.DeliveryTag }, leaseSeconds = 60 });
        await NotSupportedAsync(response, "Extending a lease");
    }

    [Fact]
    public async Task An_atomic_batch_is_refused_with_501_and_publishes_nothing()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "amq.default"),
            new { atomic = true, messages = new[] { new { routingKey = "q", payload = "a" }, new { routingKey = "q", payload = "b" } } });
        await NotSupportedAsync(response, "An atomic batch");
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).MessagesReady);
    }

    [Fact]
    public async Task A_webhook_is_refused_with_501()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        var response = await _client.PutJsonAsync($"{Urls.Queue(vhost, "q")}/webhooks/w", new { url = "https://hooks.example.com/gateway" });
        await NotSupportedAsync(response, "A webhook");
    }

    [Fact]
    public async Task Over_a_WebSocket_a_delayed_nack_answers_an_error_501_and_the_delivery_can_still_be_acked()
    {
        var vhost = await QueueWithMessageAsync();
        await using var socket = await TestServerSockets.ConnectAsync(_factory, vhost);
        await socket.SubscribeAsync(queue: "q");
        var delivery = await socket.ExpectAsync("delivery");
        var tag = delivery.GetProperty("deliveryTag").GetString();

        var error = await socket.RequestAsync(new { type = "nack", id = "n", deliveryTag = tag, delayMilliseconds = 100 });
        Assert.True(error.Type() == "error" && error.GetProperty("status").GetInt32() == 501, $"Expected an error 501, got {error.GetRawText()}");
        Assert.Contains(LimitedBroker.Name, error.GetProperty("detail").GetString());

        await socket.SendAsync(new { type = "ack", deliveryTag = tag });
        await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, "q"), q => q.Messages == 0, "the ack after the refused nack to settle the message");
    }

    [Fact]
    public async Task With_the_backend_out_of_reach_requests_answer_503_with_Retry_After_and_readyz_names_the_backend()
    {
        var vhost = await QueueWithMessageAsync();
        _factory.Broker.Unavailable = true;
        try
        {
            foreach (var response in new[]
                     {
                         await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"), new { routingKey = "q", payload = "m" }),
                         await _client.GetAsync(Urls.Queue(vhost, "q")),
                         await _client.PostJsonAsync(Urls.Get(vhost, "q"), new { max = 1 }),
                         await _client.GetAsync(Urls.Vhosts),
                     })
            {
                var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.ServiceUnavailable, "backend-unavailable");
                Assert.Equal("3", response.Headers.GetValues("Retry-After").Single());
                Assert.Equal("No node of the Limited backend is reachable.", problem.GetProperty("detail").GetString());
            }
            var ready = await _client.GetAsync("/readyz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            var backend = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement.GetProperty("checks").GetProperty("backend");
            Assert.Equal("Unhealthy", backend.GetProperty("status").GetString());
            Assert.Equal("Limited: no node reachable", backend.GetProperty("description").GetString());
        }
        finally
        {
            _factory.Broker.Unavailable = false;
        }
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/readyz")).StatusCode);
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesReady); // the refused publish took nothing
    }
}
