using System.Net;

namespace Gateway.Server.Tests;

public abstract partial class ConsumeTests<TFactory>
{
    private protected Task<HttpResponseMessage> AckAsync(string vhost, params string[] tags) =>
        _client.PostJsonAsync(Urls.Ack(vhost, "q"), new { deliveryTags = tags });

    [Fact]
    public async Task Ack_answers_204_and_removes_the_message()
    {
        var vhost = await VhostWithMessagesAsync("m");
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));

        var response = await AckAsync(vhost, delivery.DeliveryTag);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    [Fact]
    public async Task Acking_the_same_tag_twice_answers_404_the_second_time()
    {
        var vhost = await VhostWithMessagesAsync("m");
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));
        await AckAsync(vhost, delivery.DeliveryTag);

        var second = await AckAsync(vhost, delivery.DeliveryTag);

        await ProblemAssert.IsProblemAsync(second, HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task Ack_is_all_or_none_when_one_tag_is_unknown()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2");
        var deliveries = await _client.GetAsync(vhost, "q", new { max = 2 });
        await AckAsync(vhost, deliveries[1].DeliveryTag);

        var response = await AckAsync(vhost, deliveries[0].DeliveryTag, deliveries[1].DeliveryTag);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesUnacknowledged);
    }

    [Fact]
    public async Task A_tag_from_another_queue_answers_404()
    {
        var vhost = await VhostWithMessagesAsync("m");
        await _client.DeclareQueueAsync(vhost, "other");
        await _client.PublishToQueueAsync(vhost, "other", "o");
        var foreign = Assert.Single(await _client.GetAsync(vhost, "other"));
        Assert.Single(await _client.GetAsync(vhost, "q"));

        var response = await AckAsync(vhost, foreign.DeliveryTag);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesUnacknowledged);
    }

    [Theory]
    [InlineData("not-a-tag")]
    [InlineData("")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("!!!!!!!!!!!!!!!!!!!!!!")]
    public async Task Ack_with_a_malformed_tag_answers_400(string tag)
    {
        var vhost = await VhostWithMessagesAsync();

        var response = await AckAsync(vhost, tag);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Ack_without_tags_answers_400()
    {
        var vhost = await VhostWithMessagesAsync();

        await ProblemAssert.IsProblemAsync(await AckAsync(vhost), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Ack_on_an_unknown_queue_answers_404()
    {
        var vhost = await VhostWithMessagesAsync("m");
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));

        var response = await _client.PostJsonAsync(Urls.Ack(vhost, "nope"), new { deliveryTags = new[] { delivery.DeliveryTag } });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Nack_requeues_by_default()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2", "m3");
        var taken = await _client.GetAsync(vhost, "q", new { max = 3 });

        await _client.PostJsonAsync(Urls.Nack(vhost, "q"), new { deliveryTags = new[] { taken[0].DeliveryTag } });

        var next = Assert.Single(await _client.GetAsync(vhost, "q"));
        Assert.Equal(("m1", true, 2), (next.Payload, next.Redelivered, next.DeliveryCount));
    }

    [Fact]
    public async Task A_requeued_message_gets_a_new_tag_and_the_old_one_is_refused()
    {
        var vhost = await VhostWithMessagesAsync("m");
        var first = Assert.Single(await _client.GetAsync(vhost, "q"));
        await _client.PostJsonAsync(Urls.Nack(vhost, "q"), new { deliveryTags = new[] { first.DeliveryTag } });
        var second = Assert.Single(await _client.GetAsync(vhost, "q"));

        Assert.NotEqual(first.DeliveryTag, second.DeliveryTag);
        await ProblemAssert.IsProblemAsync(await AckAsync(vhost, first.DeliveryTag), HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.NoContent, (await AckAsync(vhost, second.DeliveryTag)).StatusCode);
    }

    [Fact]
    public async Task Nack_without_requeue_drops_the_message()
    {
        var vhost = await VhostWithMessagesAsync("m");
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));

        var response = await _client.PostJsonAsync(Urls.Nack(vhost, "q"), new { deliveryTags = new[] { delivery.DeliveryTag }, requeue = false });

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    [Fact]
    public async Task Nack_of_an_unknown_tag_answers_404()
    {
        var vhost = await VhostWithMessagesAsync("m");
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));
        await AckAsync(vhost, delivery.DeliveryTag);

        var response = await _client.PostJsonAsync(Urls.Nack(vhost, "q"), new { deliveryTags = new[] { delivery.DeliveryTag } });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Extend_answers_204_for_a_leased_delivery()
    {
        var vhost = await VhostWithMessagesAsync("m");
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));

        var response = await _client.PostJsonAsync(Urls.Extend(vhost, "q"), new { deliveryTags = new[] { delivery.DeliveryTag }, leaseSeconds = 60 });

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await AckAsync(vhost, delivery.DeliveryTag)).StatusCode);
    }

    [Fact]
    public async Task Extend_of_an_unknown_tag_answers_404()
    {
        var vhost = await VhostWithMessagesAsync("m");
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));
        await AckAsync(vhost, delivery.DeliveryTag);

        var response = await _client.PostJsonAsync(Urls.Extend(vhost, "q"), new { deliveryTags = new[] { delivery.DeliveryTag }, leaseSeconds = 60 });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(43_201)]
    public async Task Extend_with_a_lease_out_of_range_answers_400(int leaseSeconds)
    {
        var vhost = await VhostWithMessagesAsync("m");
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));

        var response = await _client.PostJsonAsync(Urls.Extend(vhost, "q"), new { deliveryTags = new[] { delivery.DeliveryTag }, leaseSeconds });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }
}
