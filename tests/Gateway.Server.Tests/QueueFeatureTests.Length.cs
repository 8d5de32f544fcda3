using System.Net;

namespace Gateway.Server.Tests;

// x-max-length, x-max-length-bytes and x-overflow (drop-head, reject-publish, reject-publish-dlx).
public sealed partial class QueueFeatureTests
{
    [Fact]
    public async Task Drop_head_drops_the_oldest_messages_beyond_x_max_length()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-max-length", 3)));

        foreach (var payload in new[] { "m1", "m2", "m3", "m4", "m5" })
        {
            // Dropping from the head is not a refusal: every publish is confirmed.
            var result = await PublishAsync(vhost, "q", payload);
            Assert.Equal((true, 1), (result.Routed, result.Queues));
        }

        Assert.Equal(3, (await _client.GetQueueAsync(vhost, "q")).MessagesReady);
        Assert.Equal(["m3", "m4", "m5"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task Drop_head_is_the_default_overflow()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-max-length", 1), ("x-overflow", "drop-head")));

        await PublishAsync(vhost, "q", "old");
        await PublishAsync(vhost, "q", "new");

        Assert.Equal(["new"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task X_max_length_bytes_counts_payload_bytes_and_drops_from_the_head()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-max-length-bytes", 10)));

        await PublishAsync(vhost, "q", "12345");
        await PublishAsync(vhost, "q", "67890");
        await PublishAsync(vhost, "q", "abc");

        var q = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((2, 8L), (q.MessagesReady, q.MessageBytesReady));
        Assert.Equal(["67890", "abc"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task X_max_length_counts_ready_messages_only_not_unacknowledged_ones()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-max-length", 1), ("x-overflow", "reject-publish")));
        await PublishAsync(vhost, "q", "first");
        Assert.Single(await _client.GetAsync(vhost, "q", new { max = 1, ackMode = "manual" }));

        var second = await PublishAsync(vhost, "q", "second");

        Assert.True(second.Routed);
        var q = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((1, 1), (q.MessagesReady, q.MessagesUnacknowledged));
    }

    [Fact]
    public async Task Drop_head_dead_letters_the_dropped_messages_with_reason_maxlen()
    {
        var vhost = await VhostAsync();
        await FanoutToAsync(vhost, "dlx", "dead");
        await DeclareAsync(vhost, "q", Args(("x-max-length", 2), ("x-dead-letter-exchange", "dlx")));

        foreach (var payload in new[] { "m1", "m2", "m3", "m4" }) await PublishAsync(vhost, "q", payload);

        Assert.Equal(["m3", "m4"], await PayloadsAsync(vhost, "q"));
        var dead = await TakeAllAsync(vhost, "dead");
        Assert.Equal(["m1", "m2"], dead.Select(d => d.Payload));
        foreach (var d in dead)
        {
            IsDeath(Assert.Single(Deaths(d)), queue: "q", reason: "maxlen", count: 1, exchange: "", routingKeys: ["q"]);
            HasFirstDeath(d, queue: "q", reason: "maxlen", exchange: "");
        }
    }

    [Theory]
    [InlineData(PublishPath.Single)]
    [InlineData(PublishPath.Batch)]
    [InlineData(PublishPath.AtomicBatch)]
    [InlineData(PublishPath.Raw)]
    [InlineData(PublishPath.WebSocket)]
    public async Task Reject_publish_refuses_a_message_for_a_full_queue_and_stores_nothing(PublishPath path)
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-max-length", 2), ("x-overflow", "reject-publish")));
        await PublishAsync(vhost, "q", "m1");
        await PublishAsync(vhost, "q", "m2");

        var answer = await PublishViaAsync(path, vhost, "amq.default", "q", "refused");

        if (path == PublishPath.Batch)
        {
            // A plain batch answers one confirm per message: this one is a basic.nack.
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            Assert.Equal(new ApiPublishResult(Routed: false, Queues: 0, Returned: false, Rejected: true), answer.Result);
        }
        else
        {
            Assert.Equal(HttpStatusCode.Conflict, answer.Status);
            if (path != PublishPath.WebSocket) Assert.Equal("urn:gateway:problem:rejected", answer.ProblemType);
        }
        var q = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((2, 2), (q.Messages, q.MessagesReady));
        Assert.Equal(["m1", "m2"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task Reject_publish_refuses_a_message_with_409_even_when_another_queue_took_it()
    {
        var vhost = await VhostAsync();
        await _client.DeclareExchangeAsync(vhost, "fan", "fanout");
        await DeclareAsync(vhost, "full", Args(("x-max-length", 1), ("x-overflow", "reject-publish")));
        await DeclareAsync(vhost, "open");
        await _client.BindAsync(vhost, "fan", "full");
        await _client.BindAsync(vhost, "fan", "open");
        await _client.PublishAsync(vhost, "fan", "", "m1");

        var answer = await PublishViaAsync(PublishPath.Single, vhost, "fan", "", "m2");

        Assert.Equal((HttpStatusCode.Conflict, "urn:gateway:problem:rejected"), (answer.Status, answer.ProblemType));
        Assert.Contains("1 other queue", answer.Detail);
        Assert.Equal(["m1"], await PayloadsAsync(vhost, "full"));
        Assert.Equal(["m1", "m2"], await PayloadsAsync(vhost, "open"));
    }

    [Fact]
    public async Task Reject_publish_takes_messages_again_once_the_queue_has_room()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-max-length", 1), ("x-overflow", "reject-publish")));
        await PublishAsync(vhost, "q", "m1");
        Assert.Equal(HttpStatusCode.Conflict, (await PublishViaAsync(PublishPath.Single, vhost, "amq.default", "q", "m2")).Status);

        Assert.Equal(["m1"], await PayloadsAsync(vhost, "q"));
        var third = await PublishAsync(vhost, "q", "m3");

        Assert.True(third.Routed);
        Assert.Equal(["m3"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task Reject_publish_on_x_max_length_bytes_refuses_a_message_once_the_bytes_are_reached()
    {
        var vhost = await VhostAsync();
        await DeclareAsync(vhost, "q", Args(("x-max-length-bytes", 5), ("x-overflow", "reject-publish")));
        await PublishAsync(vhost, "q", "12345");

        var answer = await PublishViaAsync(PublishPath.Single, vhost, "amq.default", "q", "6");

        Assert.Equal(HttpStatusCode.Conflict, answer.Status);
        Assert.Equal(["12345"], await PayloadsAsync(vhost, "q"));
    }

    [Fact]
    public async Task Reject_publish_dlx_refuses_the_message_and_dead_letters_it_with_reason_maxlen()
    {
        var vhost = await VhostAsync();
        await FanoutToAsync(vhost, "dlx", "dead");
        await DeclareAsync(vhost, "q", Args(("x-max-length", 1), ("x-overflow", "reject-publish-dlx"), ("x-dead-letter-exchange", "dlx")));
        await PublishAsync(vhost, "q", "kept");

        var answer = await PublishViaAsync(PublishPath.Single, vhost, "amq.default", "q", "refused");

        Assert.Equal((HttpStatusCode.Conflict, "urn:gateway:problem:rejected"), (answer.Status, answer.ProblemType));
        Assert.Equal(["kept"], await PayloadsAsync(vhost, "q"));
        var dead = Assert.Single(await TakeAllAsync(vhost, "dead"));
        Assert.Equal("refused", dead.Payload);
        IsDeath(Assert.Single(Deaths(dead)), queue: "q", reason: "maxlen", count: 1, exchange: "", routingKeys: ["q"]);
    }

    [Fact]
    public async Task Reject_publish_without_dlx_does_not_dead_letter_the_refused_message()
    {
        var vhost = await VhostAsync();
        await FanoutToAsync(vhost, "dlx", "dead");
        await DeclareAsync(vhost, "q", Args(("x-max-length", 1), ("x-overflow", "reject-publish"), ("x-dead-letter-exchange", "dlx")));
        await PublishAsync(vhost, "q", "kept");

        Assert.Equal(HttpStatusCode.Conflict, (await PublishViaAsync(PublishPath.Single, vhost, "amq.default", "q", "refused")).Status);

        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "dead")).Messages);
    }
}
