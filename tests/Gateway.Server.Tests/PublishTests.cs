using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Gateway.Server.Tests;

/// <summary>Publishing through the JSON envelope. Batch and raw publishing live in the other parts.</summary>
public abstract partial class PublishTests<TFactory>(TFactory factory) : IClassFixture<TFactory> where TFactory : GatewayFactory
{
    private protected readonly HttpClient _client = factory.CreateClient();

    private protected async Task<string> VhostWithQueueAsync(string queue = "q")
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, queue);
        return vhost;
    }

    [Theory]
    [InlineData("hello")]
    [InlineData("")]
    [InlineData("héllo wörld ✓ 😀 \u0000 \n\"quoted\"")]
    public async Task A_string_payload_comes_back_unchanged(string payload)
    {
        var vhost = await VhostWithQueueAsync();

        await _client.PublishToQueueAsync(vhost, "q", payload);

        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));
        Assert.Equal(("string", payload), (delivery.PayloadEncoding, delivery.Payload));
    }

    [Fact]
    public async Task A_base64_payload_that_is_not_UTF8_comes_back_byte_for_byte_as_base64()
    {
        var vhost = await VhostWithQueueAsync();
        var bytes = Enumerable.Range(0, 256).Select(i => (byte)(255 - i)).ToArray();

        await _client.SendOkAsync(HttpMethod.Post, Urls.Publish(vhost, "amq.default"),
            new { routingKey = "q", payload = Convert.ToBase64String(bytes), payloadEncoding = "base64" }, HttpStatusCode.OK);

        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));
        Assert.Equal("base64", delivery.PayloadEncoding);
        Assert.Equal(bytes, delivery.Body);
    }

    [Fact]
    public async Task A_base64_payload_that_is_valid_UTF8_comes_back_as_a_string()
    {
        var vhost = await VhostWithQueueAsync();

        await _client.SendOkAsync(HttpMethod.Post, Urls.Publish(vhost, "amq.default"),
            new { routingKey = "q", payload = Convert.ToBase64String(Encoding.UTF8.GetBytes("plain ✓")), payloadEncoding = "base64" }, HttpStatusCode.OK);

        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));
        Assert.Equal(("string", "plain ✓"), (delivery.PayloadEncoding, delivery.Payload));
    }

    [Fact]
    public async Task Every_AMQP_property_comes_back_unchanged()
    {
        var vhost = await VhostWithQueueAsync();
        const string properties = """
            {"contentType":"application/json","contentEncoding":"gzip","deliveryMode":2,"priority":7,"correlationId":"c-1",
             "replyTo":"answers","expiration":"60000","messageId":"m-1","timestamp":1700000000,"type":"order.created",
             "userId":"guest","appId":"shop"}
            """;

        await _client.SendOkAsync(HttpMethod.Post, Urls.Publish(vhost, "amq.default"),
            JsonDocument.Parse($$$"""{"routingKey":"q","payload":"{}","properties":{{{properties}}}}""").RootElement, HttpStatusCode.OK);

        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));
        var sent = JsonDocument.Parse(properties).RootElement;
        foreach (var property in sent.EnumerateObject())
            Assert.True(delivery.Properties.TryGetProperty(property.Name, out var back) && JsonElement.DeepEquals(property.Value, back),
                $"Property '{property.Name}' came back as {delivery.Properties}");
    }

    [Fact]
    public async Task Header_values_keep_their_JSON_types()
    {
        var vhost = await VhostWithQueueAsync();
        const string headers = """{"long":1,"double":1.0,"fraction":2.5,"text":"1","flag":true,"off":false,"negative":-7,"big":1099511627776,"list":[1,1.0,"a"],"table":{"inner":1.0},"void":null}""";

        await _client.SendRawJsonAsync(HttpMethod.Post, Urls.Publish(vhost, "amq.default"),
            $$$"""{"routingKey":"q","payload":"x","properties":{"headers":{{{headers}}}}}""");

        var back = Assert.Single(await _client.GetAsync(vhost, "q")).Properties.GetProperty("headers");
        foreach (var header in JsonDocument.Parse(headers).RootElement.EnumerateObject())
            Assert.Equal(header.Value.GetRawText(), back.GetProperty(header.Name).GetRawText());
    }

    [Fact]
    public async Task A_message_without_properties_comes_back_without_headers()
    {
        var vhost = await VhostWithQueueAsync();

        await _client.PublishToQueueAsync(vhost, "q", "bare");

        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));
        Assert.False(delivery.Properties.TryGetProperty("headers", out var h) && h.ValueKind != JsonValueKind.Null, delivery.Properties.ToString());
    }

    [Fact]
    public async Task Optional_properties_given_as_null_are_absent()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.SendRawJsonAsync(HttpMethod.Post, Urls.Publish(vhost, "amq.default"),
            """{"routingKey":"q","payload":"m","properties":{"contentType":null,"headers":null,"priority":null}}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var properties = Assert.Single(await _client.GetAsync(vhost, "q")).Properties;
        Assert.False(properties.TryGetProperty("contentType", out _) || properties.TryGetProperty("priority", out _), properties.ToString());
    }

    [Fact]
    public async Task A_delivery_names_the_exchange_and_routing_key_it_was_published_with()
    {
        var vhost = await VhostWithQueueAsync();
        await _client.DeclareExchangeAsync(vhost, "x", "topic");
        await _client.BindAsync(vhost, "x", "q", "a.#");

        await _client.PublishAsync(vhost, "x", "a.b.c", "m");
        await _client.PublishToQueueAsync(vhost, "q", "direct");

        var deliveries = await _client.GetAsync(vhost, "q", new { max = 2 });
        Assert.Equal([("x", "a.b.c"), ("amq.default", "q")], deliveries.Select(d => (d.Exchange, d.RoutingKey)));
    }

    [Fact]
    public async Task A_queue_reached_by_several_bindings_takes_the_message_once()
    {
        var vhost = await VhostWithQueueAsync();
        await _client.DeclareExchangeAsync(vhost, "x", "topic");
        await _client.BindAsync(vhost, "x", "q", "a.*");
        await _client.BindAsync(vhost, "x", "q", "#");

        var result = await _client.PublishAsync(vhost, "x", "a.b", "m");

        Assert.Equal(1, result.Queues);
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesReady);
    }

    [Fact]
    public async Task An_unroutable_mandatory_message_answers_422_unroutable()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "x");

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "x"), new { routingKey = "nobody", payload = "m", mandatory = true });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "urn:gateway:problem:unroutable");
    }

    [Fact]
    public async Task A_routable_mandatory_message_answers_200()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"), new { routingKey = "q", payload = "m", mandatory = true });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = (await response.Content.ReadFromJsonAsync<ApiPublishResult>(GatewayFactory.Json))!;
        Assert.Equal((true, 1, false), (result.Routed, result.Queues, result.Returned));
    }

    [Fact]
    public async Task An_unroutable_message_that_is_not_mandatory_answers_200_not_routed()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "x");

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "x"), new { routingKey = "nobody", payload = "m" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = (await response.Content.ReadFromJsonAsync<ApiPublishResult>(GatewayFactory.Json))!;
        Assert.Equal((false, 0, false), (result.Routed, result.Queues, result.Returned));
    }

    [Fact]
    public async Task Publishing_to_a_missing_exchange_answers_404()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "nope"), new { payload = "m" });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Publishing_to_an_internal_exchange_answers_403()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "i", "fanout", @internal: true);

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "i"), new { payload = "m" });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "access-refused");
    }

    [Fact]
    public async Task An_internal_exchange_still_receives_from_other_exchanges()
    {
        var vhost = await VhostWithQueueAsync();
        await _client.DeclareExchangeAsync(vhost, "front", "fanout");
        await _client.DeclareExchangeAsync(vhost, "i", "fanout", @internal: true);
        await _client.BindAsync(vhost, "front", "i", destinationType: "exchange");
        await _client.BindAsync(vhost, "i", "q");

        var result = await _client.PublishAsync(vhost, "front", "", "m");

        Assert.True(result.Routed);
    }

    [Fact]
    public async Task The_default_exchange_routes_to_the_queue_named_by_the_routing_key()
    {
        var vhost = await VhostWithQueueAsync("orders");

        var hit = await _client.PublishAsync(vhost, "amq.default", "orders", "m");
        var miss = await _client.PublishAsync(vhost, "amq.default", "Orders", "m");

        Assert.Equal((true, false), (hit.Routed, miss.Routed));
    }

    [Fact]
    public async Task An_unroutable_message_goes_to_the_alternate_exchange()
    {
        var vhost = await VhostWithQueueAsync("lost");
        await _client.DeclareExchangeAsync(vhost, "ae", "fanout");
        await _client.BindAsync(vhost, "ae", "lost");
        await _client.DeclareExchangeAsync(vhost, "x", arguments: new Dictionary<string, object> { ["alternate-exchange"] = "ae" });

        var result = await _client.PublishAsync(vhost, "x", "nobody", "m");

        Assert.True(result.Routed);
        Assert.Equal(["m"], (await _client.GetAsync(vhost, "lost")).Select(d => d.Payload));
    }
}

/// <summary>PublishTests on the embedded engine.</summary>
public sealed class PublishTests(GatewayFactory factory) : PublishTests<GatewayFactory>(factory)
{
    // Behaviour of the embedded engine that the RabbitMQ backend does not have (README, "Backends").

    [Fact]
    public async Task The_confirm_is_the_same_JSON_document_whether_it_is_a_shared_answer_or_written_for_this_publish()
    {
        // Taken by one queue, and not taken, are written from bytes serialized once; taken by two is serialized per
        // request. All three must be what the API document describes, in camelCase, with every member, as JSON.
        var vhost = await VhostWithQueueAsync();
        await _client.DeclareQueueAsync(vhost, "q2");
        await _client.DeclareExchangeAsync(vhost, "fan", "fanout");
        await _client.BindAsync(vhost, "fan", "q");
        await _client.BindAsync(vhost, "fan", "q2");

        foreach (var (exchange, key, expected) in new[]
                 {
                     ("amq.default", "q", """{"routed":true,"queues":1,"returned":false,"rejected":false}"""),
                     ("amq.default", "nobody", """{"routed":false,"queues":0,"returned":false,"rejected":false}"""),
                     ("fan", "", """{"routed":true,"queues":2,"returned":false,"rejected":false}"""),
                 })
        {
            for (var i = 0; i < 2; i++) // the first use of a shared answer serializes it; the second writes the bytes
            {
                var response = await _client.PostJsonAsync(Urls.Publish(vhost, exchange), new { routingKey = key, payload = "m" });
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
                Assert.Equal(expected, await response.Content.ReadAsStringAsync());
            }
        }
    }

    [Fact]
    public async Task The_confirm_counts_every_queue_that_took_the_message()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "x", "fanout");
        foreach (var q in new[] { "a", "b", "c" })
        {
            await _client.DeclareQueueAsync(vhost, q);
            await _client.BindAsync(vhost, "x", q);
        }

        var result = await _client.PublishAsync(vhost, "x", "", "m");

        Assert.Equal((true, 3, false), (result.Routed, result.Queues, result.Returned));
    }

    [Fact]
    public async Task A_batch_answers_one_confirm_per_message_in_order()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "x");
        await _client.DeclareQueueAsync(vhost, "a");
        await _client.DeclareQueueAsync(vhost, "b");
        await _client.BindAsync(vhost, "x", "a", "k");
        await _client.BindAsync(vhost, "x", "b", "k");
        await _client.BindAsync(vhost, "x", "a", "only-a");

        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "x"), new
        {
            messages = new object[]
            {
                new { routingKey = "k", payload = "1" },
                new { routingKey = "nobody", payload = "2", mandatory = true },
                new { routingKey = "only-a", payload = "3" },
                new { routingKey = "nobody", payload = "4" },
            },
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = (await response.Content.ReadFromJsonAsync<ApiBatchResult>(GatewayFactory.Json))!.Results;
        Assert.Equal([(true, 2, false), (false, 0, true), (true, 1, false), (false, 0, false)],
            results.Select(r => (r.Routed, r.Queues, r.Returned)));
    }
}

/// <summary>PublishTests on the RabbitMQ backend.</summary>
public sealed class PublishTestsOnRabbitMq(RabbitMqGateway factory) : PublishTests<RabbitMqGateway>(factory);
