using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;

namespace Gateway.Server.Tests;

public abstract partial class PublishTests<TFactory>
{
    private async Task<HttpResponseMessage> PublishRawAsync(string vhost, string exchange, string routingKey, byte[] body,
        string? contentType = "application/octet-stream", IEnumerable<(string Name, string Value)>? headers = null, string query = "")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Urls.PublishRaw(vhost, exchange, routingKey) + query)
        {
            Content = new ByteArrayContent(body),
        };
        if (contentType is not null) request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        foreach (var (name, value) in headers ?? []) request.Headers.TryAddWithoutValidation(name, value);
        return await _client.SendAsync(request);
    }

    [Fact]
    public async Task A_raw_publish_takes_the_body_as_the_payload_and_answers_the_confirm()
    {
        var vhost = await VhostWithQueueAsync();
        byte[] body = [0xFF, 0x00, 0xC3, 0x28, 0x7F];

        var response = await PublishRawAsync(vhost, "amq.default", "q", body);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = (await response.Content.ReadFromJsonAsync<ApiPublishResult>(GatewayFactory.Json))!;
        Assert.Equal((true, 1), (result.Routed, result.Queues));
        Assert.Equal(body, Assert.Single(await _client.GetAsync(vhost, "q")).Body);
    }

    [Fact]
    public async Task A_raw_publish_turns_Content_Type_and_Amqp_headers_into_properties()
    {
        var vhost = await VhostWithQueueAsync();

        await PublishRawAsync(vhost, "amq.default", "q", "{}"u8.ToArray(), "application/json; charset=utf-8",
        [
            ("Amqp-Delivery-Mode", "2"), ("Amqp-Priority", "5"), ("Amqp-Correlation-Id", "caf%C3%A9"), ("Amqp-Reply-To", "replies"),
            ("Amqp-Expiration", "1000"), ("Amqp-Message-Id", "m-1"), ("Amqp-Timestamp", "1700000000"), ("Amqp-Type", "t"),
            ("Amqp-User-Id", "guest"), ("Amqp-App-Id", "app"), ("Amqp-Header-Tenant", "acme"),
        ]);

        var p = Assert.Single(await _client.GetAsync(vhost, "q")).Properties;
        Assert.Equal("application/json; charset=utf-8", p.GetProperty("contentType").GetString());
        Assert.Equal((2, 5), (p.GetProperty("deliveryMode").GetInt32(), p.GetProperty("priority").GetInt32()));
        Assert.Equal("café", p.GetProperty("correlationId").GetString());
        Assert.Equal("replies", p.GetProperty("replyTo").GetString());
        Assert.Equal("1000", p.GetProperty("expiration").GetString());
        Assert.Equal("m-1", p.GetProperty("messageId").GetString());
        Assert.Equal(1700000000, p.GetProperty("timestamp").GetInt64());
        Assert.Equal(("t", "guest", "app"), (p.GetProperty("type").GetString(), p.GetProperty("userId").GetString(), p.GetProperty("appId").GetString()));
        Assert.Equal("acme", p.GetProperty("headers").GetProperty("tenant").GetString());
    }

    [Fact]
    public async Task A_raw_publish_with_a_malformed_property_header_answers_400()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await PublishRawAsync(vhost, "amq.default", "q", "x"u8.ToArray(), headers: [("Amqp-Priority", "high")]);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("Amqp-Priority", problem.Detail());
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    [Fact]
    public async Task A_raw_mandatory_publish_that_no_queue_takes_answers_422()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await PublishRawAsync(vhost, "amq.default", "nobody", "x"u8.ToArray(), query: "&mandatory=true");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, "unroutable");
    }

    [Fact]
    public async Task A_raw_publish_to_a_missing_exchange_answers_404()
    {
        var vhost = await _client.CreateVhostAsync();

        var response = await PublishRawAsync(vhost, "nope", "", "x"u8.ToArray());

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task A_raw_pull_answers_the_body_with_the_delivery_in_headers()
    {
        var vhost = await VhostWithQueueAsync();
        byte[] body = [0x00, 0xFF, 0x10, 0x80];
        await PublishRawAsync(vhost, "amq.default", "q", body, "image/x-test",
            [("Amqp-Message-Id", "m-9"), ("Amqp-Correlation-Id", "caf%C3%A9"), ("Amqp-Header-Tenant", "acme")]);

        var response = await _client.PostAsync(Urls.Next(vhost, "q"), content: null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal("image/x-test", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(22, Header(response, "Amqp-Delivery-Tag").Length);
        Assert.Equal("false", Header(response, "Amqp-Redelivered"));
        Assert.Equal("1", Header(response, "Amqp-Delivery-Count"));
        Assert.Equal("amq.default", Header(response, "Amqp-Exchange"));
        Assert.Equal("q", Header(response, "Amqp-Routing-Key"));
        Assert.Equal("m-9", Header(response, "Amqp-Message-Id"));
        Assert.Equal("caf%C3%A9", Header(response, "Amqp-Correlation-Id"));
        Assert.Equal("acme", Header(response, "Amqp-Header-tenant"));
    }

    [Fact]
    public async Task The_tag_of_a_raw_pull_acknowledges_the_message()
    {
        var vhost = await VhostWithQueueAsync();
        await _client.PublishToQueueAsync(vhost, "q", "m");
        var pulled = await _client.PostAsync(Urls.Next(vhost, "q"), content: null);

        var ack = await _client.PostJsonAsync(Urls.Ack(vhost, "q"), new { deliveryTags = new[] { Header(pulled, "Amqp-Delivery-Tag") } });

        Assert.Equal(HttpStatusCode.NoContent, ack.StatusCode);
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);
    }

    [Fact]
    public async Task A_raw_pull_with_ackMode_auto_removes_the_message()
    {
        var vhost = await VhostWithQueueAsync();
        await _client.PublishToQueueAsync(vhost, "q", "m");

        var response = await _client.PostAsync(Urls.Next(vhost, "q") + "?ackMode=auto", content: null);

        Assert.True(HttpStatusCode.OK == response.StatusCode, await response.Content.ReadAsStringAsync());
        await Eventually.WaitForAsync(() => _client.GetQueueAsync(vhost, "q"), q => q.Messages == 0, "the auto-acked message to be gone");
    }

    [Fact]
    public async Task A_raw_pull_of_an_empty_queue_answers_204()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostAsync(Urls.Next(vhost, "q"), content: null);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task A_raw_pull_that_waits_in_vain_answers_204()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostAsync(Urls.Next(vhost, "q") + "?wait=1", content: null);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    [Fact]
    public async Task A_raw_pull_without_a_Content_Type_property_answers_octet_stream()
    {
        var vhost = await VhostWithQueueAsync();
        await _client.PublishToQueueAsync(vhost, "q", "text");

        var response = await _client.PostAsync(Urls.Next(vhost, "q"), content: null);

        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("text", Encoding.UTF8.GetString(await response.Content.ReadAsByteArrayAsync()));
    }

    [Theory]
    [InlineData("?wait=-1")]
    [InlineData("?wait=121")]
    [InlineData("?leaseSeconds=0")]
    [InlineData("?wait=soon")]
    [InlineData("?ackMode=sometimes")]
    public async Task A_raw_pull_with_a_bad_query_answers_400(string query)
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostAsync(Urls.Next(vhost, "q") + query, content: null);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? string.Join(",", values)
            : throw new Xunit.Sdk.XunitException($"No '{name}' header in {response.Headers}");
}
