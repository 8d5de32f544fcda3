using System.Net;
using System.Net.Http.Json;

namespace Gateway.Server.Tests;

public abstract class VhostTests<TFactory>(TFactory factory) : IClassFixture<TFactory> where TFactory : GatewayFactory
{
    private readonly HttpClient _client = factory.CreateClient();

    [Fact]
    public async Task Creating_a_vhost_answers_201_with_its_name()
    {
        var name = $"v-{Guid.NewGuid():N}";

        var response = await _client.PutAsync(Urls.Vhost(name), content: null);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(name, (await response.Content.ReadFromJsonAsync<VhostModel>(GatewayFactory.Json))!.Name);
    }

    [Fact]
    public async Task Creating_an_existing_vhost_again_answers_200()
    {
        var name = await _client.CreateVhostAsync();

        var response = await _client.PutAsync(Urls.Vhost(name), content: null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_created_vhost_is_listed_and_the_default_vhost_exists_from_the_start()
    {
        var name = await _client.CreateVhostAsync();

        var vhosts = await _client.GetFromJsonAsync<List<VhostModel>>(Urls.Vhosts, GatewayFactory.Json);

        Assert.Contains(vhosts!, v => v.Name == name);
        Assert.Contains(vhosts!, v => v.Name == "default");
    }

    [Fact]
    public async Task Deleting_a_vhost_answers_204_and_removes_it()
    {
        var name = await _client.CreateVhostAsync();

        var response = await _client.DeleteAsync(Urls.Vhost(name));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        await ProblemAssert.IsProblemAsync(await _client.GetAsync(Urls.Queues(name)), HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Deleting_a_vhost_drops_its_queues_and_messages()
    {
        var name = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(name, "q");
        await _client.PublishToQueueAsync(name, "q", "lost");
        await _client.DeleteAsync(Urls.Vhost(name));

        await _client.PutAsync(Urls.Vhost(name), content: null);

        Assert.Empty((await _client.GetFromJsonAsync<List<ApiQueue>>(Urls.Queues(name), GatewayFactory.Json))!);
    }

    [Fact]
    public async Task The_default_vhost_cannot_be_deleted()
    {
        var response = await _client.DeleteAsync(Urls.Vhost("default"));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "access-refused");
    }

    [Fact]
    public async Task Deleting_an_unknown_vhost_answers_404()
    {
        var response = await _client.DeleteAsync(Urls.Vhost($"missing-{Guid.NewGuid():N}"));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Reading_an_unknown_vhost_answers_404()
    {
        var response = await _client.GetAsync(Urls.Vhost($"missing-{Guid.NewGuid():N}"));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }

    [Theory]
    [InlineData("GET", "exchanges", null)]
    [InlineData("GET", "queues", null)]
    [InlineData("GET", "bindings", null)]
    [InlineData("PUT", "exchanges/x", """{"type":"direct"}""")]
    [InlineData("PUT", "queues/q", "{}")]
    [InlineData("POST", "queues", "{}")]
    [InlineData("POST", "bindings", """{"source":"amq.direct","destination":"q"}""")]
    [InlineData("POST", "exchanges/amq.default/publish", """{"routingKey":"q","payload":"m"}""")]
    [InlineData("POST", "queues/q/get", "{}")]
    public async Task Resources_of_an_unknown_vhost_answer_404(string method, string path, string? body)
    {
        var url = $"{Urls.Vhost($"missing-{Guid.NewGuid():N}")}/{path}";

        var response = body is null
            ? await _client.SendAsync(new HttpRequestMessage(new HttpMethod(method), url))
            : await _client.SendRawJsonAsync(new HttpMethod(method), url, body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }

    private sealed record VhostModel(string Name);
}

/// <summary>VhostTests on the embedded engine.</summary>
public sealed class VhostTests(GatewayFactory factory) : VhostTests<GatewayFactory>(factory);

/// <summary>VhostTests on the RabbitMQ backend.</summary>
public sealed class VhostTestsOnRabbitMq(RabbitMqGateway factory) : VhostTests<RabbitMqGateway>(factory);
