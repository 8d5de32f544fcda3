using System.Net;
using System.Text;

namespace Gateway.Server.Tests;

/// <summary>Messages over <c>Gateway:Limits:MaxMessageBytes</c> (1024 bytes here) answer 413 and are not published.</summary>
public sealed class LimitsTests(SmallMessageLimitGateway gateway) : IClassFixture<SmallMessageLimitGateway>
{
    private const int Max = SmallMessageLimitGateway.MaxMessageBytes;

    private readonly HttpClient _client = gateway.Factory.CreateClient();

    private async Task<string> VhostWithQueueAsync()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareQueueAsync(vhost, "q");
        return vhost;
    }

    private async Task AssertNothingPublishedAsync(string vhost) =>
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);

    [Fact]
    public async Task A_payload_of_exactly_the_limit_is_accepted()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"), new { routingKey = "q", payload = new string('a', Max) });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_string_payload_over_the_limit_answers_413()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"), new { routingKey = "q", payload = new string('a', Max + 1) });

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "too-large");
        Assert.Contains("MaxMessageBytes", problem.Detail());
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task The_limit_counts_UTF8_bytes_not_characters()
    {
        var vhost = await VhostWithQueueAsync();
        var payload = new string('é', Max / 2 + 1); // 513 characters, 1026 bytes

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"), new { routingKey = "q", payload });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "too-large");
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_base64_payload_counts_its_decoded_bytes()
    {
        var vhost = await VhostWithQueueAsync();
        var exactly = Convert.ToBase64String(new byte[Max]);
        var over = Convert.ToBase64String(new byte[Max + 1]);

        var accepted = await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"), new { routingKey = "q", payload = exactly, payloadEncoding = "base64" });
        var refused = await _client.PostJsonAsync(Urls.Publish(vhost, "amq.default"), new { routingKey = "q", payload = over, payloadEncoding = "base64" });

        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.RequestEntityTooLarge, "too-large");
    }

    [Fact]
    public async Task A_batch_with_one_message_over_the_limit_answers_413_and_publishes_nothing()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "amq.default"), new
        {
            messages = new[] { new { routingKey = "q", payload = "small" }, new { routingKey = "q", payload = new string('a', Max + 1) } },
        });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "too-large");
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_raw_body_over_the_limit_answers_413()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostAsync(Urls.PublishRaw(vhost, "amq.default", "q"), new ByteArrayContent(new byte[Max + 1]));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "too-large");
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_raw_body_over_the_limit_without_a_Content_Length_answers_413()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostAsync(Urls.PublishRaw(vhost, "amq.default", "q"), new UnknownLengthContent(new byte[Max * 4]));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "too-large");
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_raw_body_of_exactly_the_limit_is_accepted()
    {
        var vhost = await VhostWithQueueAsync();

        var response = await _client.PostAsync(Urls.PublishRaw(vhost, "amq.default", "q"), new UnknownLengthContent(Encoding.ASCII.GetBytes(new string('a', Max))));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>A body sent without Content-Length (chunked), so that only reading it reveals its size.</summary>
    private sealed class UnknownLengthContent(byte[] body) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(body).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}
