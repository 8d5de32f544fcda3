using System.Net;

namespace Gateway.Server.Tests;

public abstract partial class ConsumeTests<TFactory>
{
    [Fact]
    public async Task A_delivery_whose_lease_ends_returns_to_the_queue_and_its_ack_answers_410()
    {
        var vhost = await VhostWithMessagesAsync("m");
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q", new { leaseSeconds = 1 }));

        await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, "q"), q => q.MessagesReady == 1, "the lease to end");
        var ack = await _client.PostJsonAsync(Urls.Ack(vhost, "q"), new { deliveryTags = new[] { delivery.DeliveryTag } });

        var problem = await ProblemAssert.IsProblemAsync(ack, HttpStatusCode.Gone, "lease-expired");
        Assert.Contains("expired", problem.Detail());
    }

    [Fact]
    public async Task A_message_whose_lease_ended_is_redelivered()
    {
        var vhost = await VhostWithMessagesAsync("m");
        await _client.GetAsync(vhost, "q", new { leaseSeconds = 1 });
        await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, "q"), q => q.MessagesReady == 1, "the lease to end");

        var again = Assert.Single(await _client.GetAsync(vhost, "q"));

        Assert.Equal(("m", true, 2), (again.Payload, again.Redelivered, again.DeliveryCount));
    }

    [Fact]
    public async Task Extending_a_lease_keeps_the_delivery_past_its_first_deadline()
    {
        var vhost = await VhostWithMessagesAsync("extended", "not-extended");
        var extended = Assert.Single(await _client.GetAsync(vhost, "q", new { leaseSeconds = 2 }));
        var extend = await _client.PostJsonAsync(Urls.Extend(vhost, "q"), new { deliveryTags = new[] { extended.DeliveryTag }, leaseSeconds = 600 });
        Assert.True(extend.StatusCode == HttpStatusCode.NoContent, $"The extend came too late or failed: {await extend.Content.ReadAsStringAsync()}");
        // Leased after the first, so its lease ends no sooner than the first one's original lease would have.
        Assert.Single(await _client.GetAsync(vhost, "q", new { leaseSeconds = 2 }));

        var q = await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, "q"), q => q.MessagesReady == 1, "the unextended lease to end");

        Assert.Equal(1, q.MessagesUnacknowledged);
        Assert.Equal(HttpStatusCode.NoContent, (await _client.PostJsonAsync(Urls.Ack(vhost, "q"), new { deliveryTags = new[] { extended.DeliveryTag } })).StatusCode);
        Assert.Equal("not-extended", Assert.Single(await _client.GetAsync(vhost, "q")).Payload);
    }

    [Fact]
    public async Task Nack_of_a_delivery_whose_lease_ended_answers_410()
    {
        var vhost = await VhostWithMessagesAsync("m");
        var delivery = Assert.Single(await _client.GetAsync(vhost, "q", new { leaseSeconds = 1 }));
        await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, "q"), q => q.MessagesReady == 1, "the lease to end");

        var nack = await _client.PostJsonAsync(Urls.Nack(vhost, "q"), new { deliveryTags = new[] { delivery.DeliveryTag } });

        await ProblemAssert.IsProblemAsync(nack, HttpStatusCode.Gone, "lease-expired");
    }
}
