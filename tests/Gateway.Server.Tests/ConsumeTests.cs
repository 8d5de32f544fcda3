using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;

namespace Gateway.Server.Tests;

/// <summary>Pulling with <c>get</c>. Acknowledgements and leases live in the other parts.</summary>
public abstract partial class ConsumeTests<TFactory>(TFactory factory) : IClassFixture<TFactory> where TFactory : GatewayFactory
{
    private protected readonly HttpClient _client = factory.CreateClient();

    private protected async Task<string> VhostWithMessagesAsync(params string[] payloads)
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        foreach (var payload in payloads) await _client.PublishToQueueAsync(vhost, "q", payload);
        return vhost;
    }

    [Fact]
    public async Task Get_answers_at_most_max_messages()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2", "m3", "m4", "m5");

        var deliveries = await _client.GetAsync(vhost, "q", new { max = 2 });

        Assert.Equal(2, deliveries.Count);
        Assert.Equal(3, (await _client.GetQueueAsync(vhost, "q")).MessagesReady);
    }

    [Fact]
    public async Task Get_without_a_body_answers_one_message()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2");

        var response = await _client.PostAsync(Urls.Get(vhost, "q"), content: null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single((await response.Content.ReadFromJsonAsync<List<ApiDelivery>>(GatewayFactory.Json))!);
    }

    [Fact]
    public async Task Get_answers_messages_in_publish_order()
    {
        var payloads = Enumerable.Range(0, 10).Select(i => $"m{i}").ToArray();
        var vhost = await VhostWithMessagesAsync(payloads);

        var first = await _client.GetAsync(vhost, "q", new { max = 4 });
        var rest = await _client.GetAsync(vhost, "q", new { max = 100 });

        Assert.Equal(payloads, first.Concat(rest).Select(d => d.Payload));
    }

    [Fact]
    public async Task A_first_delivery_is_not_redelivered_and_has_count_1()
    {
        var vhost = await VhostWithMessagesAsync("m");

        var delivery = Assert.Single(await _client.GetAsync(vhost, "q"));

        Assert.Equal((false, 1), (delivery.Redelivered, delivery.DeliveryCount));
        Assert.Equal(22, delivery.DeliveryTag.Length);
    }

    [Fact]
    public async Task Get_on_an_empty_queue_without_waiting_answers_an_empty_list()
    {
        var vhost = await VhostWithMessagesAsync();

        Assert.Empty(await _client.GetAsync(vhost, "q", new { max = 10 }));
    }

    [Fact]
    public async Task A_long_poll_is_answered_by_a_message_published_while_it_waits()
    {
        var vhost = await VhostWithMessagesAsync();
        var started = Stopwatch.StartNew();

        var poll = _client.GetAsync(vhost, "q", new { waitSeconds = 60, max = 5 });
        await _client.PublishToQueueAsync(vhost, "q", "late");
        var deliveries = await poll.WaitAsync(Eventually.Deadline);

        Assert.Equal(["late"], deliveries.Select(d => d.Payload));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(60), "The poll ran to its full wait instead of being answered by the publish.");
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesUnacknowledged);
    }

    [Fact]
    public async Task A_long_poll_whose_wait_elapses_answers_an_empty_list()
    {
        var vhost = await VhostWithMessagesAsync();
        var started = Stopwatch.StartNew();

        var deliveries = await _client.GetAsync(vhost, "q", new { waitSeconds = 1 });

        Assert.Empty(deliveries);
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(900), $"Answered after {started.Elapsed}, before the wait elapsed.");
    }

    [Fact]
    public async Task A_long_poll_on_a_queue_with_messages_answers_at_once()
    {
        var vhost = await VhostWithMessagesAsync("ready");

        var deliveries = await _client.GetAsync(vhost, "q", new { waitSeconds = 60 }).WaitAsync(Eventually.Deadline);

        Assert.Equal(["ready"], deliveries.Select(d => d.Payload));
    }

    [Fact]
    public async Task A_long_poll_ends_with_an_empty_list_when_its_queue_is_deleted()
    {
        var vhost = await VhostWithMessagesAsync();
        const int attempts = 20;

        for (var attempt = 1; ; attempt++)
        {
            var poll = _client.PostJsonAsync(Urls.Get(vhost, "q"), new { waitSeconds = 60 });
            await _client.DeleteAsync(Urls.Queue(vhost, "q"));
            var response = await poll.WaitAsync(Eventually.Deadline);

            // The delete overtook the poll, which then found no queue: nothing was tested, so try again.
            if (response.StatusCode == HttpStatusCode.NotFound && attempt < attempts)
            {
                await _client.DeclareQueueAsync(vhost, "q");
                continue;
            }
            // The poll found the queue, so the delete came while it waited (or was about to), and ended the wait.
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Empty((await response.Content.ReadFromJsonAsync<List<ApiDelivery>>(GatewayFactory.Json))!);
            return;
        }
    }

    [Fact]
    public async Task Get_with_ackMode_auto_removes_the_messages_from_the_queue()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2");

        var deliveries = await _client.GetAsync(vhost, "q", new { max = 10, ackMode = "auto" });

        Assert.Equal(["m1", "m2"], deliveries.Select(d => d.Payload));
        await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, "q"), q => q.Messages == 0, "the auto-acked messages to be gone");
    }

    [Fact]
    public async Task Get_with_ackMode_manual_leaves_the_messages_unacknowledged()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2");

        await _client.GetAsync(vhost, "q", new { max = 10, ackMode = "manual" });

        var q = await _client.GetQueueAsync(vhost, "q");
        Assert.Equal((0, 2), (q.MessagesReady, q.MessagesUnacknowledged));
    }

    [Fact]
    public async Task An_unacknowledged_message_is_not_delivered_to_a_second_get()
    {
        var vhost = await VhostWithMessagesAsync("only");
        await _client.GetAsync(vhost, "q");

        Assert.Empty(await _client.GetAsync(vhost, "q"));
    }

    [Fact]
    public async Task Get_on_an_unknown_queue_answers_404()
    {
        var vhost = await VhostWithMessagesAsync();

        var response = await _client.PostJsonAsync(Urls.Get(vhost, "nope"), new { });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task A_long_poll_on_an_unknown_queue_answers_404_at_once()
    {
        var vhost = await VhostWithMessagesAsync();

        var response = await _client.PostJsonAsync(Urls.Get(vhost, "nope"), new { waitSeconds = 60 }).WaitAsync(Eventually.Deadline);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }
}

/// <summary>ConsumeTests on the embedded engine.</summary>
public sealed class ConsumeTests(GatewayFactory factory) : ConsumeTests<GatewayFactory>(factory)
{
    // Behaviour of the embedded engine that the RabbitMQ backend does not have (README, "Backends").

    [Fact]
    public async Task Nack_with_requeue_redelivers_the_message_at_its_original_position()
    {
        var vhost = await VhostWithMessagesAsync("m1", "m2", "m3", "m4");
        var taken = await _client.GetAsync(vhost, "q", new { max = 3 });

        await _client.PostJsonAsync(Urls.Nack(vhost, "q"), new { deliveryTags = new[] { taken[2].DeliveryTag }, requeue = true });
        var response = await _client.PostJsonAsync(Urls.Nack(vhost, "q"), new { deliveryTags = new[] { taken[0].DeliveryTag }, requeue = true });

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var again = await _client.GetAsync(vhost, "q", new { max = 10 });
        Assert.Equal([("m1", true, 2), ("m3", true, 2), ("m4", false, 1)], again.Select(d => (d.Payload, d.Redelivered, d.DeliveryCount)));
    }
}

/// <summary>ConsumeTests on the RabbitMQ backend.</summary>
public sealed class ConsumeTestsOnRabbitMq(RabbitMqGateway factory) : ConsumeTests<RabbitMqGateway>(factory);
