using System.Net;
using System.Net.Http.Json;

namespace Gateway.Server.Tests;

public abstract class BindingTests<TFactory>(TFactory factory) : IClassFixture<TFactory> where TFactory : GatewayFactory
{
    private readonly HttpClient _client = factory.CreateClient();

    private async Task<string> VhostWithExchangeAndQueueAsync(string type = "direct")
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "x", type);
        await _client.DeclareQueueAsync(vhost, "q");
        return vhost;
    }

    [Fact]
    public async Task Binding_answers_201_with_the_binding_and_an_id()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();

        var response = await _client.PostJsonAsync(Urls.Bindings(vhost), new { source = "x", destination = "q", routingKey = "k" });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var binding = (await response.Content.ReadFromJsonAsync<ApiBinding>(GatewayFactory.Json))!;
        Assert.False(string.IsNullOrEmpty(binding.Id));
        Assert.Equal((vhost, "x", "q", "queue", "k"), (binding.Vhost, binding.Source, binding.Destination, binding.DestinationType, binding.RoutingKey));
        Assert.EndsWith(Urls.Binding(vhost, binding.Id), response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task Binding_the_same_definition_again_answers_200_with_the_same_id()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();
        var first = await _client.BindAsync(vhost, "x", "q", "k");

        var response = await _client.PostJsonAsync(Urls.Bindings(vhost), new { source = "x", destination = "q", routingKey = "k" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(first.Id, (await response.Content.ReadFromJsonAsync<ApiBinding>(GatewayFactory.Json))!.Id);
        Assert.Single(await _client.ListBindingsAsync(vhost));
    }

    [Fact]
    public async Task Bindings_that_differ_only_in_argument_types_are_distinct()
    {
        var vhost = await VhostWithExchangeAndQueueAsync("headers");

        var integer = await _client.BindAsync(vhost, "x", "q", arguments: new { a = 1 });
        var @double = await _client.BindAsync(vhost, "x", "q", arguments: new { a = 1.5 });
        var text = await _client.BindAsync(vhost, "x", "q", arguments: new { a = "1" });

        Assert.Equal(3, new[] { integer.Id, @double.Id, text.Id }.Distinct().Count());
    }

    [Fact]
    public async Task Listing_bindings_includes_each_binding_with_its_id()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();
        var a = await _client.BindAsync(vhost, "x", "q", "a");
        var b = await _client.BindAsync(vhost, "x", "q", "b");

        var listed = await _client.ListBindingsAsync(vhost);

        Assert.Equal(new[] { a.Id, b.Id }.Order(StringComparer.Ordinal), listed.Select(l => l.Id).Order(StringComparer.Ordinal));
        Assert.Contains(listed, l => l.Id == a.Id && l.RoutingKey == "a" && l.Source == "x" && l.Destination == "q");
    }

    [Fact]
    public async Task Reading_a_binding_by_id_answers_it()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();
        var binding = await _client.BindAsync(vhost, "x", "q", "k");

        var read = await _client.GetFromJsonAsync<ApiBinding>(Urls.Binding(vhost, binding.Id), GatewayFactory.Json);

        Assert.Equal((binding.Id, "k"), (read!.Id, read.RoutingKey));
    }

    [Fact]
    public async Task Unbinding_by_id_answers_204_and_stops_routing()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();
        var binding = await _client.BindAsync(vhost, "x", "q", "k");

        var response = await _client.DeleteAsync(Urls.Binding(vhost, binding.Id));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Empty(await _client.ListBindingsAsync(vhost));
        Assert.False((await _client.PublishAsync(vhost, "x", "k", "m")).Routed);
    }

    [Fact]
    public async Task Unbinding_an_unknown_id_answers_404()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();

        var response = await _client.DeleteAsync(Urls.Binding(vhost, "AAAAAAAAAAAAAAAA"));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Reading_an_unknown_binding_id_answers_404()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();

        await ProblemAssert.IsProblemAsync(await _client.GetAsync(Urls.Binding(vhost, "nope")), HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Binding_from_the_default_exchange_answers_403()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();

        var response = await _client.PostJsonAsync(Urls.Bindings(vhost), new { source = "amq.default", destination = "q", routingKey = "other" });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "access-refused");
    }

    [Fact]
    public async Task Binding_an_exchange_to_the_default_exchange_answers_403()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();

        var response = await _client.PostJsonAsync(Urls.Bindings(vhost),
            new { source = "x", destination = "amq.default", destinationType = "exchange" });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "access-refused");
    }

    [Fact]
    public async Task Binding_from_a_missing_exchange_answers_404()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();

        var response = await _client.PostJsonAsync(Urls.Bindings(vhost), new { source = "nope", destination = "q" });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Binding_to_a_missing_queue_answers_404()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();

        var response = await _client.PostJsonAsync(Urls.Bindings(vhost), new { source = "x", destination = "nope" });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Binding_to_a_missing_exchange_answers_404()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();

        var response = await _client.PostJsonAsync(Urls.Bindings(vhost), new { source = "x", destination = "nope", destinationType = "exchange" });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task An_exchange_to_exchange_binding_routes_through_to_the_queues_of_the_destination()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "front", "topic");
        await _client.DeclareExchangeAsync(vhost, "back", "direct");
        await _client.DeclareQueueAsync(vhost, "q");
        var e2e = await _client.BindAsync(vhost, "front", "back", "orders.*", destinationType: "exchange");
        await _client.BindAsync(vhost, "back", "q", "orders.new");

        var routed = await _client.PublishAsync(vhost, "front", "orders.new", "o1");
        var missed = await _client.PublishAsync(vhost, "front", "orders.old", "o2");

        Assert.Equal("exchange", e2e.DestinationType);
        Assert.Equal((true, 1), (routed.Routed, routed.Queues));
        Assert.False(missed.Routed);
        var deliveries = await _client.GetAsync(vhost, "q", new { max = 10 });
        Assert.Equal(["o1"], deliveries.Select(d => d.Payload));
        Assert.Equal("front", deliveries[0].Exchange);
    }

    [Fact]
    public async Task Binding_arguments_are_kept_with_their_JSON_types()
    {
        var vhost = await VhostWithExchangeAndQueueAsync("headers");
        await _client.SendRawJsonAsync(HttpMethod.Post, Urls.Bindings(vhost),
            """{"source":"x","destination":"q","arguments":{"x-match":"any","l":1,"d":1.0}}""");

        var binding = Assert.Single(await _client.ListBindingsAsync(vhost));

        Assert.Equal("1", binding.Arguments.GetProperty("l").GetRawText());
        Assert.Equal("1.0", binding.Arguments.GetProperty("d").GetRawText());
    }

    [Fact]
    public async Task Deleting_the_destination_queue_removes_its_bindings()
    {
        var vhost = await VhostWithExchangeAndQueueAsync();
        await _client.DeclareQueueAsync(vhost, "other");
        await _client.BindAsync(vhost, "x", "q", "k");
        var kept = await _client.BindAsync(vhost, "x", "other", "k");

        await _client.DeleteAsync(Urls.Queue(vhost, "q"));

        Assert.Equal([kept.Id], (await _client.ListBindingsAsync(vhost)).Select(b => b.Id));
        Assert.Equal(1, (await _client.PublishAsync(vhost, "x", "k", "m")).Queues);
    }
}

/// <summary>BindingTests on the embedded engine.</summary>
public sealed class BindingTests(GatewayFactory factory) : BindingTests<GatewayFactory>(factory);

/// <summary>BindingTests on the RabbitMQ backend.</summary>
public sealed class BindingTestsOnRabbitMq(RabbitMqGateway factory) : BindingTests<RabbitMqGateway>(factory);
