using System.Net;
using System.Net.Http.Json;
using Gateway.Testing;

namespace Gateway.Server.Tests;

// x-expires, atomic batches (AMQP tx), and alternate exchanges with mandatory over every publish path.
public sealed partial class QueueFeatureTests
{
    private Task WaitForQueueGoneAsync(string vhost, string queue) =>
        Eventually.WaitForAsync(async () => (await _client.GetAsync(Urls.Queue(vhost, queue))).StatusCode,
            status => status == HttpStatusCode.NotFound, $"queue '{queue}' to be deleted (404)");

    // ------------------------------------------------------------------ x-expires

    [Fact]
    public async Task An_unused_queue_is_deleted_with_its_bindings_after_x_expires()
    {
        var vhost = await VhostAsync();
        await _client.DeclareExchangeAsync(vhost, "x");
        // Long enough for the binding and the publish below to come first on a loaded machine.
        await DeclareAsync(vhost, "idle", Args(("x-expires", 1500)));
        await _client.BindAsync(vhost, "x", "idle", "k");
        await PublishAsync(vhost, "idle", "messages do not count as use");

        await WaitForQueueGoneAsync(vhost, "idle");

        Assert.Empty(await _client.ListBindingsAsync(vhost));
        Assert.False((await _client.PublishAsync(vhost, "x", "k", "m")).Routed);
    }

    [Fact]
    public async Task A_queue_with_a_subscriber_does_not_expire_and_expires_once_the_subscriber_leaves()
    {
        const int expires = 2000;
        var vhost = await VhostAsync();
        // The socket is open before the queue exists, so that the subscription follows the declaration by one frame,
        // well within the interval however slow the machine.
        var socket = await TestServerSockets.ConnectAsync(factory, vhost);
        await DeclareAsync(vhost, "watched", Args(("x-expires", expires)));
        await socket.SubscribeAsync("s", "watched");
        // Same interval, declared later: once it is gone, "watched" would be gone too had its subscriber not kept it.
        await DeclareAsync(vhost, "clock", Args(("x-expires", expires)));

        await WaitForQueueGoneAsync(vhost, "clock");
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "watched")).Consumers);

        await socket.DisposeAsync();
        await WaitForQueueGoneAsync(vhost, "watched");
    }

    [Fact]
    public async Task A_queue_expires_after_a_long_poll_get_that_outlasted_x_expires_has_ended()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "polled", Args(("x-expires", 2000)));

        // The long poll is in use for 4 s, past the 2 s interval; the queue must not expire under it, but after it.
        var got = await _client.GetAsync(vhost, "polled", new { max = 1, waitSeconds = 4 });
        Assert.Empty(got);

        await WaitForQueueGoneAsync(vhost, "polled");
    }

    // ------------------------------------------------------------------ atomic batches

    [Fact]
    public async Task An_atomic_batch_with_an_unroutable_mandatory_message_answers_422_and_publishes_nothing()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q");

        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "amq.default"), new
        {
            atomic = true,
            messages = new object[]
            {
                new { routingKey = "q", payload = "m0" },
                new { routingKey = "nowhere", payload = "m1", mandatory = true },
                new { routingKey = "q", payload = "m2" },
            },
        });

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "unroutable");
        Assert.Contains("Message 1", problem.Detail());
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    [Fact]
    public async Task An_atomic_batch_a_full_reject_publish_queue_would_refuse_answers_409_and_publishes_nothing()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "bounded", Args(("x-max-length", 2), ("x-overflow", "reject-publish")));
        await DeclareAsync(vhost, "open");
        await PublishAsync(vhost, "bounded", "already-there");

        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "amq.default"), new
        {
            atomic = true,
            messages = new object[]
            {
                new { routingKey = "bounded", payload = "fits" },
                new { routingKey = "open", payload = "elsewhere" },
                new { routingKey = "bounded", payload = "one-too-many" },
            },
        });

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "rejected");
        Assert.Contains("Message 2", problem.Detail());
        Assert.Equal(["already-there"], await PayloadsAsync(vhost, "bounded"));
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "open")).Messages);
    }

    [Fact]
    public async Task An_atomic_batch_that_fits_stores_every_message_in_order_and_confirms_each()
    {
        var vhost = await VhostAsync();
        await _client.DeclareExchangeAsync(vhost, "fan", "fanout");
        await DeclareAsync(vhost, "a", Args(("x-max-length", 3), ("x-overflow", "reject-publish")));
        await DeclareAsync(vhost, "b");
        await _client.BindAsync(vhost, "fan", "a");
        await _client.BindAsync(vhost, "fan", "b");

        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "fan"), new
        {
            atomic = true,
            messages = Enumerable.Range(0, 3).Select(i => new { routingKey = "", payload = $"m{i}", mandatory = true, properties = new { deliveryMode = 2 } }).ToArray(),
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var results = (await response.Content.ReadFromJsonAsync<ApiBatchResult>(GatewayFactory.Json))!.Results;
        Assert.All(results, r => Assert.Equal(new ApiPublishResult(Routed: true, Queues: 2, Returned: false, Rejected: false), r));
        Assert.Equal(["m0", "m1", "m2"], await PayloadsAsync(vhost, "a"));
        Assert.Equal(["m0", "m1", "m2"], await PayloadsAsync(vhost, "b"));
    }

    [Fact]
    public async Task An_atomic_batch_that_would_itself_overflow_a_reject_publish_queue_answers_409_and_publishes_nothing()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "bounded", Args(("x-max-length", 2), ("x-overflow", "reject-publish")));

        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "amq.default"), new
        {
            atomic = true,
            messages = Enumerable.Range(0, 3).Select(i => new { routingKey = "bounded", payload = $"m{i}" }).ToArray(),
        });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, "rejected");
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "bounded")).Messages);
    }

    [Fact]
    public async Task An_atomic_batch_to_an_unknown_exchange_answers_404()
    {
        var vhost = await VhostAsync();

        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "missing"), new
        {
            atomic = true,
            messages = new[] { new { routingKey = "k", payload = "m" } },
        });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
    }

    // ------------------------------------------------------------------ alternate exchange and mandatory, every path

    private async Task<string> VhostWithAlternateExchangeAsync(bool alternateRoutes)
    {
        var vhost = await VhostAsync();
        await _client.DeclareExchangeAsync(vhost, "ae", "fanout");
        await DeclareAsync(vhost, "lost");
        if (alternateRoutes) await _client.BindAsync(vhost, "ae", "lost");
        await _client.DeclareExchangeAsync(vhost, "x", arguments: new Dictionary<string, object> { ["alternate-exchange"] = "ae" });
        return vhost;
    }

    [Theory]
    [InlineData(PublishPath.Single)]
    [InlineData(PublishPath.Batch)]
    [InlineData(PublishPath.AtomicBatch)]
    [InlineData(PublishPath.Raw)]
    [InlineData(PublishPath.WebSocket)]
    public async Task A_mandatory_message_the_alternate_exchange_routes_is_confirmed_and_not_returned(PublishPath path)
    {
        var vhost = await VhostWithAlternateExchangeAsync(alternateRoutes: true);

        var answer = await PublishViaAsync(path, vhost, "x", "no-binding", "caught", mandatory: true);

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal((true, 1, false), (answer.Result!.Routed, answer.Result.Queues, answer.Result.Returned));
        var caught = Assert.Single(await TakeAllAsync(vhost, "lost"));
        Assert.Equal(("caught", "x", "no-binding"), (caught.Payload, caught.Exchange, caught.RoutingKey));
    }

    [Theory]
    [InlineData(PublishPath.Single)]
    [InlineData(PublishPath.Batch)]
    [InlineData(PublishPath.AtomicBatch)]
    [InlineData(PublishPath.Raw)]
    [InlineData(PublishPath.WebSocket)]
    public async Task A_mandatory_message_neither_the_exchange_nor_its_alternate_routes_is_returned(PublishPath path)
    {
        var vhost = await VhostWithAlternateExchangeAsync(alternateRoutes: false);

        var answer = await PublishViaAsync(path, vhost, "x", "no-binding", "lost", mandatory: true);

        if (path == PublishPath.Batch)
        {
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            Assert.Equal(new ApiPublishResult(Routed: false, Queues: 0, Returned: true, Rejected: false), answer.Result);
        }
        else
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, answer.Status);
            if (path != PublishPath.WebSocket) Assert.Equal("urn:gateway:problem:unroutable", answer.ProblemType);
        }
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "lost")).Messages);
    }

    [Theory]
    [InlineData(PublishPath.Single)]
    [InlineData(PublishPath.Batch)]
    [InlineData(PublishPath.AtomicBatch)]
    [InlineData(PublishPath.Raw)]
    [InlineData(PublishPath.WebSocket)]
    public async Task A_message_the_exchange_routes_does_not_go_to_its_alternate_exchange(PublishPath path)
    {
        var vhost = await VhostWithAlternateExchangeAsync(alternateRoutes: true);
        await DeclareAsync(vhost, "bound");
        await _client.BindAsync(vhost, "x", "bound", "k");

        var answer = await PublishViaAsync(path, vhost, "x", "k", "direct", mandatory: true);

        Assert.Equal((HttpStatusCode.OK, true, 1), (answer.Status, answer.Result!.Routed, answer.Result.Queues));
        Assert.Equal(["direct"], await PayloadsAsync(vhost, "bound"));
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "lost")).Messages);
    }
}
