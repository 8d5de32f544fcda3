using System.Net;
using System.Net.Http.Json;
using Gateway.Server.Http;

namespace Gateway.Server.Tests;

/// <summary>
/// Paths that cannot name a resource unambiguously answer 400 before routing: dot segments (which the server would
/// resolve to another resource) and percent-encoding that is malformed or not UTF-8 (which would be kept as text).
/// </summary>
public sealed class UrlPathTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    private readonly HttpClient _client = factory.CreateClient();

    [Theory]
    [InlineData("/api/vhosts/v/queues/%FF")]
    [InlineData("/api/vhosts/v/queues/a%C0%AFb")] // an overlong '/'
    [InlineData("/api/vhosts/v/queues/%ED%A0%80")] // a surrogate
    [InlineData("/api/vhosts/v/queues/%")]
    [InlineData("/api/vhosts/v/queues/50%")]
    [InlineData("/api/vhosts/v/queues/%G1")]
    [InlineData("/api/vhosts/v/exchanges/%2E%2E")]
    [InlineData("/api/vhosts/v/exchanges/%2e")]
    [InlineData("/api/vhosts/v/exchanges/..")]
    [InlineData("/api/vhosts/v/exchanges/./x")]
    [InlineData("/api/users/.%2E")]
    public void Refused_paths(string target) => Assert.NotNull(UrlPathGuard.Refusal(target));

    [Theory]
    [InlineData("/api/vhosts/default/exchanges/amq.default/publish")]
    [InlineData("/api/vhosts/v/queues/%2541")] // a name with a literal "%41"
    [InlineData("/api/vhosts/v/queues/%C3%A9t%C3%A9")]
    [InlineData("/api/vhosts/v/queues/.hidden")]
    [InlineData("/api/vhosts/v/queues/...")]
    [InlineData("/api/vhosts/v/queues/a%2Fb")] // refused later by the name rule, with its own detail
    [InlineData("/api/vhosts/v/queues/q?routingKey=%FF%")] // the query is not a path
    public void Accepted_paths(string target) => Assert.Null(UrlPathGuard.Refusal(target));

    [Fact]
    public async Task A_name_with_a_literal_percent_sign_travels_as_25()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PutAsync(Urls.Queue(vhost, "50%off"), content: null);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("50%off", (await _client.GetQueueAsync(vhost, "50%off")).Name);
    }
}

/// <summary>The same refusals through Kestrel, with request targets sent exactly as written (dot segments included).</summary>
public sealed class RawUrlPathTests(KestrelGateway gateway) : IClassFixture<KestrelGateway>
{
    private readonly HttpClient _client = gateway.CreateSocketClient();

    // Sent exactly as written: no client-side resolution of dot segments or re-escaping.
    private Uri Verbatim(string path) =>
        new(gateway.Address.GetLeftPart(UriPartial.Authority) + path, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });

    [Theory]
    [InlineData("PUT", "/api/vhosts/{v}/queues/%FF")]
    [InlineData("PUT", "/api/vhosts/{v}/queues/%25%FF")]
    [InlineData("PUT", "/api/vhosts/{v}/queues/50%")]
    [InlineData("PUT", "/api/vhosts/{v}/queues/%2E%2E")]
    [InlineData("DELETE", "/api/vhosts/{v}/exchanges/%2E%2E")]
    [InlineData("DELETE", "/api/vhosts/{v}/exchanges/..")]
    [InlineData("DELETE", "/api/vhosts/{v}/queues/x/%2E%2E/%2E%2E")]
    [InlineData("DELETE", "/api/vhosts/{v}/queues/x/./messages")]
    public async Task Such_paths_answer_400_and_change_nothing(string method, string path)
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "x");
        await _client.PublishToQueueAsync(vhost, "x", "kept");

        var response = await _client.SendAsync(new HttpRequestMessage(new HttpMethod(method), Verbatim(path.Replace("{v}", vhost))));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        var queues = await _client.GetFromJsonAsync<List<ApiQueue>>(Urls.Queues(vhost), GatewayFactory.Json);
        Assert.Equal([("x", 1)], queues!.Select(q => (q.Name, q.Messages)));
    }

    [Fact]
    public async Task A_name_with_a_literal_percent_sign_travels_as_25()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.SendAsync(new HttpRequestMessage(HttpMethod.Put, Verbatim($"/api/vhosts/{vhost}/queues/50%25off")));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("50%off", (await _client.GetQueueAsync(vhost, "50%off")).Name);
    }
}
