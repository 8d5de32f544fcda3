using System.Net;
using System.Net.Http.Json;

namespace Gateway.Server.Tests;

public abstract class QueueTests<TFactory>(TFactory factory) : IClassFixture<TFactory> where TFactory : GatewayFactory
{
    private protected readonly HttpClient _client = factory.CreateClient();

    [Fact]
    public async Task Declaring_a_new_queue_answers_201_with_its_definition_and_zero_counts()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PutJsonAsync(Urls.Queue(vhost, "q"), new { durable = false, autoDelete = true });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var q = (await response.Content.ReadFromJsonAsync<ApiQueue>(GatewayFactory.Json))!;
        Assert.Equal(("q", vhost, false, false, true), (q.Name, q.Vhost, q.Durable, q.Exclusive, q.AutoDelete));
        Assert.Equal((0, 0, 0, 0), (q.Messages, q.MessagesReady, q.MessagesUnacknowledged, q.Consumers));
        Assert.EndsWith(Urls.Queue(vhost, "q"), response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task Declaring_a_queue_without_a_body_uses_the_defaults()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PutAsync(Urls.Queue(vhost, "q"), content: null);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var q = (await response.Content.ReadFromJsonAsync<ApiQueue>(GatewayFactory.Json))!;
        Assert.Equal((true, false, false), (q.Durable, q.Exclusive, q.AutoDelete));
    }

    [Fact]
    public async Task Declaring_a_queue_with_null_arguments_uses_no_arguments()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Queue(vhost, "q"), """{"arguments":null}""");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Empty((await response.Content.ReadFromJsonAsync<ApiQueue>(GatewayFactory.Json))!.Arguments.EnumerateObject());
    }

    [Fact]
    public async Task Declaring_the_same_queue_again_answers_200()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.PutJsonAsync(Urls.Queue(vhost, "q"), new { durable = false });

        var response = await _client.PutJsonAsync(Urls.Queue(vhost, "q"), new { durable = false });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Redeclaring_a_queue_keeps_its_messages()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        await _client.PublishToQueueAsync(vhost, "q", "kept");

        var response = await _client.PutJsonAsync(Urls.Queue(vhost, "q"), new { });

        Assert.Equal(1, (await response.Content.ReadFromJsonAsync<ApiQueue>(GatewayFactory.Json))!.MessagesReady);
    }

    [Theory]
    [InlineData("""{"durable":false}""")]
    [InlineData("""{"autoDelete":true}""")]
    [InlineData("""{"arguments":{"owner":"me"}}""")]
    public async Task Redeclaring_a_queue_with_a_different_definition_answers_409_and_changes_nothing(string different)
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");

        var response = await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Queue(vhost, "q"), different);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "precondition-failed");
        var q = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((true, false, 0), (q.Durable, q.AutoDelete, q.Arguments.EnumerateObject().Count()));
    }

    [Fact]
    public async Task Declaring_a_queue_named_amq_dot_anything_answers_403()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PutJsonAsync(Urls.Queue(vhost, "amq.mine"), new { });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "access-refused");
    }

    [Fact]
    public async Task Posting_to_queues_declares_a_server_named_queue_with_an_amq_gen_name()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PostJsonAsync(Urls.Queues(vhost), new { durable = false });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var q = (await response.Content.ReadFromJsonAsync<ApiQueue>(GatewayFactory.Json))!;
        Assert.StartsWith("amq.gen-", q.Name);
        Assert.False(q.Durable);
        Assert.Equal(q.Name, (await _client.GetQueueAsync(vhost, q.Name)).Name);
    }

    [Fact]
    public async Task Server_named_queues_get_distinct_names()
    {
        var vhost = await _client.CreateVhostAsync();

        var first = await (await _client.PostJsonAsync(Urls.Queues(vhost), new { })).Content.ReadFromJsonAsync<ApiQueue>(GatewayFactory.Json);
        var second = await (await _client.PostJsonAsync(Urls.Queues(vhost), new { })).Content.ReadFromJsonAsync<ApiQueue>(GatewayFactory.Json);

        Assert.NotEqual(first!.Name, second!.Name);
    }

    [Fact]
    public async Task A_server_named_queue_is_reachable_through_the_default_exchange()
    {
        var vhost = await _client.CreateVhostAsync();
        var q = (await (await _client.PostJsonAsync(Urls.Queues(vhost), new { })).Content.ReadFromJsonAsync<ApiQueue>(GatewayFactory.Json))!;

        var result = await _client.PublishToQueueAsync(vhost, q.Name, "hi");

        Assert.True(result.Routed);
    }

    [Fact]
    public async Task An_exclusive_queue_is_refused_with_400()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PutJsonAsync(Urls.Queue(vhost, "q"), new { exclusive = true });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "validation");
        await ProblemAssert.IsProblemAsync(await _client.GetAsync(Urls.Queue(vhost, "q")), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task An_exclusive_server_named_queue_is_refused_with_400()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PostJsonAsync(Urls.Queues(vhost), new { exclusive = true });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "validation");
    }

    [Theory]
    [InlineData("x-bogus", "\"yes\"")]
    [InlineData("x-message-ttl", "\"60000\"")]
    [InlineData("x-message-ttl", "-1")]
    [InlineData("x-message-ttl", "1.5")]
    [InlineData("x-expires", "0")]
    [InlineData("x-max-length", "-5")]
    [InlineData("x-max-length-bytes", "true")]
    [InlineData("x-overflow", "\"drop-tail\"")]
    [InlineData("x-overflow", "1")]
    [InlineData("x-dead-letter-exchange", "5")]
    [InlineData("x-dead-letter-exchange", "\"a/b\"")]
    [InlineData("x-max-priority", "256")]
    [InlineData("x-max-priority", "0")]
    [InlineData("x-delivery-limit", "-1")]
    [InlineData("x-single-active-consumer", "\"yes\"")]
    [InlineData("x-queue-type", "\"stream\"")]
    public async Task An_invalid_or_unknown_x_argument_is_refused_with_400_naming_it(string key, string value)
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Queue(vhost, "q"), $$$"""{"arguments":{"{{{key}}}":{{{value}}}}}""");

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "invalid-argument");
        Assert.Contains(key, problem.Detail());
        Assert.Equal(HttpStatusCode.NotFound, (await _client.GetAsync(Urls.Queue(vhost, "q"))).StatusCode);
    }

    [Fact]
    public async Task A_dead_letter_routing_key_without_a_dead_letter_exchange_is_refused()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Queue(vhost, "q"), """{"arguments":{"x-dead-letter-routing-key":"k"}}""");

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "invalid-argument");
        Assert.Contains("x-dead-letter-exchange", problem.Detail());
    }

    [Fact]
    public async Task Queue_arguments_without_x_prefix_are_kept_with_their_JSON_types()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Queue(vhost, "q"), """{"arguments":{"l":1,"d":1.0}}""");

        var q = await _client.GetQueueAsync(vhost, "q");

        Assert.Equal("1", q.Arguments.GetProperty("l").GetRawText());
        Assert.Equal("1.0", q.Arguments.GetProperty("d").GetRawText());
    }

    [Fact]
    public async Task Queue_counts_show_ready_and_unacknowledged_messages()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        foreach (var payload in new[] { "a", "bb", "ccc" }) await _client.PublishToQueueAsync(vhost, "q", payload);
        await _client.GetAsync(vhost, "q", new { max = 1 });

        // At once on the embedded engine; on RabbitMQ byte counts come from the management API, a statistics interval late.
        var q = await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, "q"), q => q.MessageBytesReady == 5, "the ready bytes to be counted");

        Assert.Equal((3, 2, 1), (q.Messages, q.MessagesReady, q.MessagesUnacknowledged));
        Assert.Equal(5, q.MessageBytesReady);
    }

    [Fact]
    public async Task Listing_queues_shows_each_with_its_counts()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "a");
        await _client.DeclareQueueAsync(vhost, "b");
        await _client.PublishToQueueAsync(vhost, "b", "m");

        // At once on the embedded engine; RabbitMQ's listing (its management API) is a statistics interval late.
        var queues = await Eventually.WaitForAsync(async () => (await _client.GetFromJsonAsync<List<ApiQueue>>(Urls.Queues(vhost), GatewayFactory.Json))!,
            list => list.Sum(q => q.MessagesReady) == 1, "the listing to count the published message");

        Assert.Equal(["a:0", "b:1"], queues.Select(q => $"{q.Name}:{q.MessagesReady}"));
    }

    [Fact]
    public async Task Reading_an_unknown_queue_answers_404()
    {
        var vhost = await _client.CreateVhostAsync();

        await ProblemAssert.IsProblemAsync(await _client.GetAsync(Urls.Queue(vhost, "nope")), HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Purging_answers_how_many_ready_messages_were_dropped()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        for (var i = 0; i < 3; i++) await _client.PublishToQueueAsync(vhost, "q", $"m{i}");

        var response = await _client.DeleteAsync(Urls.QueueMessages(vhost, "q"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, (await response.Content.ReadFromJsonAsync<ApiPurgeResult>(GatewayFactory.Json))!.Purged);
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    [Fact]
    public async Task Purging_keeps_unacknowledged_deliveries_and_they_can_still_be_acked()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        for (var i = 0; i < 3; i++) await _client.PublishToQueueAsync(vhost, "q", $"m{i}");
        var leased = await _client.GetAsync(vhost, "q", new { max = 1 });

        var purged = await (await _client.DeleteAsync(Urls.QueueMessages(vhost, "q"))).Content.ReadFromJsonAsync<ApiPurgeResult>(GatewayFactory.Json);

        Assert.Equal(2, purged!.Purged);
        var q = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((0, 1), (q.MessagesReady, q.MessagesUnacknowledged));
        var ack = await _client.PostJsonAsync(Urls.Ack(vhost, "q"), new { deliveryTags = new[] { leased[0].DeliveryTag } });
        Assert.Equal(HttpStatusCode.NoContent, ack.StatusCode);
    }

    [Fact]
    public async Task Purging_an_unknown_queue_answers_404()
    {
        var vhost = await _client.CreateVhostAsync();

        await ProblemAssert.IsProblemAsync(await _client.DeleteAsync(Urls.QueueMessages(vhost, "nope")), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Deleting_a_queue_answers_204_and_removes_it_with_its_bindings()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "x", "fanout");
        await _client.DeclareQueueAsync(vhost, "q");
        await _client.BindAsync(vhost, "x", "q");

        var response = await _client.DeleteAsync(Urls.Queue(vhost, "q"));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        await ProblemAssert.IsProblemAsync(await _client.GetAsync(Urls.Queue(vhost, "q")), HttpStatusCode.NotFound);
        Assert.Empty(await _client.ListBindingsAsync(vhost));
    }

    [Fact]
    public async Task Deleting_an_unknown_queue_answers_404()
    {
        var vhost = await _client.CreateVhostAsync();

        await ProblemAssert.IsProblemAsync(await _client.DeleteAsync(Urls.Queue(vhost, "nope")), HttpStatusCode.NotFound, "not-found");
    }

}

/// <summary>QueueTests on the embedded engine.</summary>
public sealed class QueueTests(GatewayFactory factory) : QueueTests<GatewayFactory>(factory)
{
    // Behaviour of the embedded engine that the RabbitMQ backend does not have (README, "Backends").

    [Fact]
    public async Task Deleting_an_empty_queue_with_ifEmpty_answers_204()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");

        var response = await _client.DeleteAsync(Urls.Queue(vhost, "q") + "?ifEmpty=true&ifUnused=true");

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    [Fact]
    public async Task Deleting_a_queue_with_ready_messages_and_ifEmpty_answers_409_and_keeps_it()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        await _client.PublishToQueueAsync(vhost, "q", "m");

        var response = await _client.DeleteAsync(Urls.Queue(vhost, "q") + "?ifEmpty=true");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "precondition-failed");
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesReady);
    }

    [Fact]
    public async Task A_queue_deleted_and_declared_again_refuses_tags_of_the_old_one()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        await _client.PublishToQueueAsync(vhost, "q", "m");
        var old = await _client.GetAsync(vhost, "q");
        await _client.DeleteAsync(Urls.Queue(vhost, "q"));
        await _client.DeclareQueueAsync(vhost, "q");

        var response = await _client.PostJsonAsync(Urls.Ack(vhost, "q"), new { deliveryTags = new[] { old[0].DeliveryTag } });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Every_supported_x_argument_is_accepted_and_listed_back()
    {
        var vhost = await _client.CreateVhostAsync();
        const string arguments = """
            {"x-message-ttl":60000,"x-expires":3600000,"x-max-length":10,"x-max-length-bytes":1000,"x-overflow":"reject-publish-dlx",
             "x-dead-letter-exchange":"dlx","x-dead-letter-routing-key":"dead","x-max-priority":10,"x-delivery-limit":3,
             "x-single-active-consumer":true,"x-queue-type":"classic","x-queue-mode":"lazy"}
            """;

        var response = await _client.SendRawJsonAsync(HttpMethod.Put, Urls.Queue(vhost, "q"), $$"""{"arguments":{{arguments}}}""");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var q = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal(12, q.Arguments.EnumerateObject().Count());
        Assert.Equal(60000L, q.Arguments.GetProperty("x-message-ttl").GetInt64());
        Assert.Equal("reject-publish-dlx", q.Arguments.GetProperty("x-overflow").GetString());
    }
}

/// <summary>QueueTests on the RabbitMQ backend.</summary>
public sealed class QueueTestsOnRabbitMq(RabbitMqGateway factory) : QueueTests<RabbitMqGateway>(factory);
