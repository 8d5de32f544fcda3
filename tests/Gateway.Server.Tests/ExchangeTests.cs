using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Gateway.Server.Tests;

public abstract class ExchangeTests<TFactory>(TFactory factory) : IClassFixture<TFactory> where TFactory : GatewayFactory
{
    private readonly HttpClient _client = factory.CreateClient();

    private static readonly object Fanout = new { type = "fanout", durable = false, autoDelete = false, @internal = false };

    [Fact]
    public async Task Declaring_a_new_exchange_answers_201_with_its_definition()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PutJsonAsync(Urls.Exchange(vhost, "x"), Fanout);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var info = (await response.Content.ReadFromJsonAsync<ApiExchange>(GatewayFactory.Json))!;
        Assert.Equal(("x", vhost, "fanout", false), (info.Name, info.Vhost, info.Type, info.Durable));
        Assert.EndsWith(Urls.Exchange(vhost, "x"), response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task Declaring_the_same_exchange_again_answers_200()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.PutJsonAsync(Urls.Exchange(vhost, "x"), Fanout);

        var response = await _client.PutJsonAsync(Urls.Exchange(vhost, "x"), Fanout);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("""{"type":"direct","durable":false}""")]
    [InlineData("""{"type":"fanout","durable":true}""")]
    [InlineData("""{"type":"fanout","durable":false,"autoDelete":true}""")]
    [InlineData("""{"type":"fanout","durable":false,"internal":true}""")]
    [InlineData("""{"type":"fanout","durable":false,"arguments":{"alternate-exchange":"ae"}}""")]
    public async Task Redeclaring_an_exchange_with_a_different_definition_answers_409_and_changes_nothing(string different)
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.PutJsonAsync(Urls.Exchange(vhost, "x"), Fanout);

        var response = await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Exchange(vhost, "x"), different);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "precondition-failed");
        var info = (await _client.GetFromJsonAsync<ApiExchange>(Urls.Exchange(vhost, "x"), GatewayFactory.Json))!;
        Assert.Equal(("fanout", false, false, false, 0), (info.Type, info.Durable, info.AutoDelete, info.Internal, info.Arguments.EnumerateObject().Count()));
    }

    [Fact]
    public async Task Redeclaring_an_exchange_with_an_argument_of_another_JSON_type_answers_409()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Exchange(vhost, "x"), """{"type":"direct","arguments":{"n":1}}""");

        var response = await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Exchange(vhost, "x"), """{"type":"direct","arguments":{"n":1.0}}""");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "precondition-failed");
    }

    [Theory]
    [InlineData("amq.custom")]
    [InlineData("amq.")]
    public async Task Declaring_a_new_exchange_named_amq_dot_anything_answers_403(string name)
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PutJsonAsync(Urls.Exchange(vhost, name), new { type = "direct" });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "access-refused");
        await ProblemAssert.IsProblemAsync(await _client.GetAsync(Urls.Exchange(vhost, name)), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Declaring_the_default_exchange_answers_403()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PutJsonAsync(Urls.Exchange(vhost, "amq.default"), new { type = "direct", durable = true });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "access-refused");
    }

    [Fact]
    public async Task Redeclaring_amq_direct_with_its_own_definition_answers_200()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PutJsonAsync(Urls.Exchange(vhost, "amq.direct"), new { type = "direct", durable = true });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Redeclaring_amq_direct_as_not_durable_answers_409()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PutJsonAsync(Urls.Exchange(vhost, "amq.direct"), new { type = "direct", durable = false });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "precondition-failed");
    }

    [Fact]
    public async Task Reading_an_exchange_shows_all_its_fields()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Exchange(vhost, "x"),
            """{"type":"topic","durable":false,"autoDelete":true,"internal":true,"arguments":{"alternate-exchange":"ae","n":1,"f":1.0}}""");

        var response = await _client.GetAsync(Urls.Exchange(vhost, "x"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var info = (await response.Content.ReadFromJsonAsync<ApiExchange>(GatewayFactory.Json))!;
        Assert.Equal(("x", vhost, "topic", false, true, true), (info.Name, info.Vhost, info.Type, info.Durable, info.AutoDelete, info.Internal));
        Assert.Equal("ae", info.Arguments.GetProperty("alternate-exchange").GetString());
        Assert.Equal("1", info.Arguments.GetProperty("n").GetRawText());
        Assert.Equal("1.0", info.Arguments.GetProperty("f").GetRawText());
    }

    [Fact]
    public async Task A_new_vhost_lists_the_default_exchange_and_the_predeclared_amq_exchanges()
    {
        var vhost = await _client.CreateVhostAsync();

        var exchanges = (await _client.GetFromJsonAsync<List<ApiExchange>>(Urls.Exchanges(vhost), GatewayFactory.Json))!;

        Assert.Equal(
            ["amq.default:direct", "amq.direct:direct", "amq.fanout:fanout", "amq.headers:headers", "amq.match:headers", "amq.topic:topic"],
            exchanges.Select(x => $"{x.Name}:{x.Type}").Order(StringComparer.Ordinal));
        Assert.All(exchanges, x => Assert.True(x.Durable));
    }

    [Fact]
    public async Task Reading_an_unknown_exchange_answers_404()
    {
        var vhost = await _client.CreateVhostAsync();

        await ProblemAssert.IsProblemAsync(await _client.GetAsync(Urls.Exchange(vhost, "nope")), HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Deleting_an_exchange_answers_204_and_removes_it_with_its_bindings()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "x", "fanout");
        await _client.DeclareQueueAsync(vhost, "q");
        await _client.BindAsync(vhost, "x", "q");

        var response = await _client.DeleteAsync(Urls.Exchange(vhost, "x"));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        await ProblemAssert.IsProblemAsync(await _client.GetAsync(Urls.Exchange(vhost, "x")), HttpStatusCode.NotFound);
        Assert.Empty(await _client.ListBindingsAsync(vhost));
    }

    [Fact]
    public async Task Deleting_an_exchange_with_bindings_and_ifUnused_answers_409_and_keeps_it()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "x", "fanout");
        await _client.DeclareQueueAsync(vhost, "q");
        await _client.BindAsync(vhost, "x", "q");

        var response = await _client.DeleteAsync(Urls.Exchange(vhost, "x") + "?ifUnused=true");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "precondition-failed");
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync(Urls.Exchange(vhost, "x"))).StatusCode);
        Assert.Single(await _client.ListBindingsAsync(vhost));
    }

    [Fact]
    public async Task Deleting_an_unbound_exchange_with_ifUnused_answers_204()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "x", "fanout");

        var response = await _client.DeleteAsync(Urls.Exchange(vhost, "x") + "?ifUnused=true");

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    [Fact]
    public async Task Deleting_an_unknown_exchange_answers_404()
    {
        var vhost = await _client.CreateVhostAsync();

        await ProblemAssert.IsProblemAsync(await _client.DeleteAsync(Urls.Exchange(vhost, "nope")), HttpStatusCode.NotFound, "not-found");
    }

    [Theory]
    [InlineData("amq.default")]
    [InlineData("amq.direct")]
    [InlineData("amq.topic")]
    public async Task Deleting_a_predeclared_exchange_answers_403(string name)
    {
        var vhost = await _client.CreateVhostAsync();

        await ProblemAssert.IsProblemAsync(await _client.DeleteAsync(Urls.Exchange(vhost, name)), HttpStatusCode.Forbidden, "access-refused");
    }

    [Fact]
    public async Task An_alternate_exchange_argument_that_is_not_a_string_answers_400()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Exchange(vhost, "x"),
            """{"type":"direct","arguments":{"alternate-exchange":1}}""");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Deleting_an_auto_delete_exchanges_last_binding_deletes_the_exchange()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "ad", "fanout", autoDelete: true);
        await _client.DeclareQueueAsync(vhost, "q");
        var binding = await _client.BindAsync(vhost, "ad", "q");

        await _client.DeleteAsync(Urls.Binding(vhost, binding.Id));

        await ProblemAssert.IsProblemAsync(await _client.GetAsync(Urls.Exchange(vhost, "ad")), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Exchange_arguments_are_read_back_with_their_JSON_types()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Exchange(vhost, "x"),
            """{"type":"headers","arguments":{"l":1,"d":1.0,"s":"1","b":true,"a":[1,"x"],"t":{"k":2.5}}}""");

        var info = (await _client.GetFromJsonAsync<ApiExchange>(Urls.Exchange(vhost, "x"), GatewayFactory.Json))!;

        Assert.True(JsonElement.DeepEquals(JsonDocument.Parse("""{"l":1,"d":1.0,"s":"1","b":true,"a":[1,"x"],"t":{"k":2.5}}""").RootElement, info.Arguments));
        Assert.Equal("1.0", info.Arguments.GetProperty("d").GetRawText());
        Assert.Equal("1", info.Arguments.GetProperty("l").GetRawText());
    }
}

/// <summary>ExchangeTests on the embedded engine.</summary>
public sealed class ExchangeTests(GatewayFactory factory) : ExchangeTests<GatewayFactory>(factory);

/// <summary>ExchangeTests on the RabbitMQ backend.</summary>
public sealed class ExchangeTestsOnRabbitMq(RabbitMqGateway factory) : ExchangeTests<RabbitMqGateway>(factory);
