using System.Net;
using System.Net.Http.Json;

namespace Gateway.Server.Tests;

public abstract partial class PublishTests<TFactory>
{
    [Fact]
    public async Task A_batch_enqueues_its_messages_in_order()
    {
        var vhost = await VhostWithQueueAsync();

        await _client.PostJsonAsync(Urls.PublishBatch(vhost, "amq.default"), new
        {
            messages = Enumerable.Range(0, 20).Select(i => new { routingKey = "q", payload = $"m{i}" }).ToArray(),
        });

        var deliveries = await _client.GetAsync(vhost, "q", new { max = 100 });
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"m{i}"), deliveries.Select(d => d.Payload));
    }

    [Fact]
    public async Task A_batch_with_one_invalid_message_answers_400_and_publishes_nothing()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "amq.default"), new
        {
            messages = new object[]
            {
                new { routingKey = "q", payload = "fine" },
                new { routingKey = "q", payload = "not base64!", payloadEncoding = "base64" },
                new { routingKey = "q", payload = "fine too" },
            },
        });

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("base64", problem.Detail());
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    [Fact]
    public async Task A_batch_with_a_message_missing_its_payload_answers_400_and_publishes_nothing()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.SendRawJsonAsync(HttpMethod.Post, Urls.PublishBatch(vhost, "amq.default"),
            """{"messages":[{"routingKey":"q","payload":"fine"},{"routingKey":"q"}]}""");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    [Fact]
    public async Task A_batch_with_a_null_message_answers_400_and_publishes_nothing()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.SendRawJsonAsync(HttpMethod.Post, Urls.PublishBatch(vhost, "amq.default"),
            """{"messages":[{"routingKey":"q","payload":"fine"},null]}""");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    [Theory]
    [InlineData("""{"messages":[]}""")]
    [InlineData("""{}""")]
    public async Task A_batch_without_messages_answers_400(string body)
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.SendRawJsonAsync(HttpMethod.Post, Urls.PublishBatch(vhost, "amq.default"), body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_batch_to_a_missing_exchange_answers_404()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "nope"), new { messages = new[] { new { payload = "m" } } });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task A_batch_to_an_internal_exchange_answers_403()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "i", "fanout", @internal: true);

        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "i"), new { messages = new[] { new { payload = "m" } } });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden, "access-refused");
    }
}
