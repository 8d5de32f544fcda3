using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;

namespace Gateway.Server.Tests;

/// <summary>
/// Malformed requests answer a 4xx problem document with a precise detail, never 500, and change nothing. Each test
/// runs against a vhost with exchange <c>x</c> (direct), queue <c>q</c> holding one leased message, and a binding.
/// </summary>
public sealed class BadInputTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    private readonly HttpClient _client = factory.CreateClient();

    private static readonly string TooLong = new('n', 256);
    private static readonly string TooLongMultibyte = string.Concat(Enumerable.Repeat("é", 128)); // 128 characters, 256 bytes

    private async Task<string> ArrangeAsync()
    {
        var vhost = await _client.CreateVhostAsync();
        await _client.DeclareExchangeAsync(vhost, "x");
        await _client.DeclareQueueAsync(vhost, "q");
        await _client.BindAsync(vhost, "x", "q", "k");
        return vhost;
    }

    /// <summary>Endpoints taking a JSON body, by a short name, with the method and URL for a vhost.</summary>
    private static (HttpMethod Method, string Url) Endpoint(string name, string vhost) => name switch
    {
        "declare-exchange" => (HttpMethod.Put, Urls.Exchange(vhost, "y")),
        "declare-queue" => (HttpMethod.Put, Urls.Queue(vhost, "r")),
        "declare-server-named-queue" => (HttpMethod.Post, Urls.Queues(vhost)),
        "bind" => (HttpMethod.Post, Urls.Bindings(vhost)),
        "publish" => (HttpMethod.Post, Urls.Publish(vhost, "x")),
        "publish-batch" => (HttpMethod.Post, Urls.PublishBatch(vhost, "x")),
        "get" => (HttpMethod.Post, Urls.Get(vhost, "q")),
        "ack" => (HttpMethod.Post, Urls.Ack(vhost, "q")),
        "nack" => (HttpMethod.Post, Urls.Nack(vhost, "q")),
        "extend" => (HttpMethod.Post, Urls.Extend(vhost, "q")),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    private async Task<HttpResponseMessage> SendAsync(string endpoint, string vhost, string json)
    {
        var (method, url) = Endpoint(endpoint, vhost);
        return await _client.SendRawJsonAsync(method, url, json);
    }

    private async Task<HttpResponseMessage> SendBytesAsync(string endpoint, string vhost, byte[] body)
    {
        var (method, url) = Endpoint(endpoint, vhost);
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        return await _client.SendAsync(new HttpRequestMessage(method, url) { Content = content });
    }

    private async Task AssertNothingPublishedAsync(string vhost) =>
        Assert.Equal(0, (await _client.GetQueueAsync(vhost, "q")).Messages);

    // ------------------------------------------------------------------ malformed JSON

    [Theory]
    [InlineData("declare-exchange", """{"type":"direct",""")]
    [InlineData("declare-queue", """{"durable":tru}""")]
    [InlineData("declare-server-named-queue", """[""")]
    [InlineData("bind", """{"source":"x" "destination":"q"}""")]
    [InlineData("publish", """{"payload":"m"}}""")]
    [InlineData("publish-batch", """{"messages":[{"payload":"m"},]}""")]
    [InlineData("get", """{max:1}""")]
    [InlineData("ack", """{"deliveryTags":['a']}""")]
    [InlineData("nack", """not json at all""")]
    [InlineData("extend", """{"deliveryTags":["a"],"leaseSeconds":1""")]
    public async Task Malformed_JSON_answers_400(string endpoint, string body)
    {
        var vhost = await ArrangeAsync();

        var response = await SendAsync(endpoint, vhost, body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("publish")]
    [InlineData("bind")]
    [InlineData("declare-exchange")]
    [InlineData("ack")]
    public async Task An_empty_body_where_one_is_required_answers_400(string endpoint)
    {
        var vhost = await ArrangeAsync();

        var response = await SendAsync(endpoint, vhost, "");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/xml")]
    public async Task A_body_that_is_not_JSON_answers_415(string contentType)
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PostAsync(Urls.Publish(vhost, "x"), new StringContent("""{"routingKey":"k","payload":"m"}""", Encoding.UTF8, contentType));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_JSON_body_without_a_Content_Type_answers_415()
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PostAsync(Urls.Publish(vhost, "x"), new ByteArrayContent("""{"routingKey":"k","payload":"m"}"""u8.ToArray()));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task A_path_that_is_no_resource_answers_a_404_problem()
    {
        var response = await _client.GetAsync("/api/nothing/here");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_method_a_resource_does_not_support_answers_a_405_problem()
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PatchAsync(Urls.Queue(vhost, "q"), JsonContent.Create(new { }));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.MethodNotAllowed);
    }

    // ------------------------------------------------------------------ wrong JSON types

    [Theory]
    [InlineData("get", """{"max":"ten"}""")]
    [InlineData("get", """{"waitSeconds":true}""")]
    [InlineData("get", """{"max":1.5}""")]
    [InlineData("get", """{"max":"10"}""")]
    [InlineData("publish", """{"payload":"m","properties":{"deliveryMode":"2"}}""")]
    [InlineData("publish", """{"payload":"m","mandatroy":true}""")]
    [InlineData("publish", """{"routing_key":"k","payload":"m"}""")]
    [InlineData("publish", """{"routingKey":"k","payload":5}""")]
    [InlineData("publish", """{"routingKey":1,"payload":"m"}""")]
    [InlineData("publish", """{"routingKey":"k","payload":"m","mandatory":"yes"}""")]
    [InlineData("publish", """{"routingKey":"k","payload":"m","properties":"none"}""")]
    [InlineData("publish", """{"routingKey":"k","payload":"m","properties":{"headers":[1,2]}}""")]
    [InlineData("publish", """{"routingKey":"k","payload":"m","properties":{"priority":"high"}}""")]
    [InlineData("publish-batch", """{"messages":{"payload":"m"}}""")]
    [InlineData("declare-queue", """{"durable":"yes"}""")]
    [InlineData("declare-queue", """{"arguments":[]}""")]
    [InlineData("declare-exchange", """{"type":1}""")]
    [InlineData("bind", """{"source":"x","destination":["q"]}""")]
    [InlineData("ack", """{"deliveryTags":"AAAAAAAAAAAAAAAAAAAAAA"}""")]
    [InlineData("nack", """{"deliveryTags":[1]}""")]
    [InlineData("extend", """{"deliveryTags":["AAAAAAAAAAAAAAAAAAAAAA"],"leaseSeconds":"60"}""")]
    public async Task A_field_of_the_wrong_JSON_type_answers_400(string endpoint, string body)
    {
        var vhost = await ArrangeAsync();

        var response = await SendAsync(endpoint, vhost, body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        await AssertNothingPublishedAsync(vhost);
    }

    // ------------------------------------------------------------------ missing required fields

    [Theory]
    [InlineData("publish", """{"routingKey":"k"}""", "payload")]
    [InlineData("publish", """{"routingKey":"k","payload":null}""", "payload")]
    [InlineData("declare-exchange", """{"durable":true}""", "type")]
    [InlineData("bind", """{"destination":"q"}""", "source")]
    [InlineData("bind", """{"source":"x"}""", "destination")]
    [InlineData("ack", """{}""", "deliveryTags")]
    [InlineData("nack", """{"requeue":false}""", "deliveryTags")]
    [InlineData("extend", """{"leaseSeconds":60}""", "deliveryTags")]
    public async Task A_missing_required_field_answers_400_naming_it(string endpoint, string body, string field)
    {
        var vhost = await ArrangeAsync();

        var response = await SendAsync(endpoint, vhost, body);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains(field, problem.Detail(), StringComparison.OrdinalIgnoreCase);
        await AssertNothingPublishedAsync(vhost);
    }

    [Theory]
    [InlineData("publish", """{"routingKey":"k","payload":null}""", "payload")]
    [InlineData("publish", """{"routingKey":null,"payload":"m"}""", "routingKey")]
    [InlineData("publish-batch", """{"messages":null}""", "messages")]
    [InlineData("publish-batch", """{"messages":[{"routingKey":"k","payload":null}]}""", "payload")]
    [InlineData("bind", """{"source":"x","destination":"q","routingKey":null}""", "routingKey")]
    [InlineData("bind", """{"source":null,"destination":"q"}""", "source")]
    [InlineData("declare-exchange", """{"type":null}""", "type")]
    [InlineData("ack", """{"deliveryTags":null}""", "deliveryTags")]
    [InlineData("nack", """{"deliveryTags":null}""", "deliveryTags")]
    [InlineData("extend", """{"deliveryTags":null,"leaseSeconds":60}""", "deliveryTags")]
    public async Task A_required_field_given_as_null_answers_400_naming_it(string endpoint, string body, string field)
    {
        var vhost = await ArrangeAsync();

        var response = await SendAsync(endpoint, vhost, body);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains(field, problem.Detail(), StringComparison.OrdinalIgnoreCase);
        await AssertNothingPublishedAsync(vhost);
    }

    // ------------------------------------------------------------------ unknown enum values

    [Theory]
    [InlineData("get", """{"ackMode":"sometimes"}""")]
    [InlineData("declare-exchange", """{"type":"bogus"}""")]
    [InlineData("declare-exchange", """{"type":"x-consistent-hash"}""")]
    [InlineData("publish", """{"routingKey":"k","payload":"6d","payloadEncoding":"hex"}""")]
    [InlineData("bind", """{"source":"x","destination":"q","destinationType":"topic"}""")]
    public async Task An_unknown_enum_value_answers_400(string endpoint, string body)
    {
        var vhost = await ArrangeAsync();

        var response = await SendAsync(endpoint, vhost, body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        await AssertNothingPublishedAsync(vhost);
    }

    [Theory]
    [InlineData("get", """{"ackMode":5}""")]
    [InlineData("get", """{"ackMode":1}""")]
    [InlineData("declare-exchange", """{"type":7}""")]
    [InlineData("declare-exchange", """{"type":"1"}""")]
    [InlineData("publish", """{"routingKey":"k","payload":"m","payloadEncoding":1}""")]
    [InlineData("bind", """{"source":"x","destination":"q","destinationType":1}""")]
    public async Task An_enum_given_as_a_number_answers_400(string endpoint, string body)
    {
        var vhost = await ArrangeAsync();

        var response = await SendAsync(endpoint, vhost, body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_get_with_a_numeric_ackMode_leaves_the_message_in_the_queue()
    {
        var vhost = await ArrangeAsync();
        await _client.PublishAsync(vhost, "x", "k", "m");

        await SendAsync("get", vhost, """{"ackMode":5}""");

        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesReady);
    }

    [Fact]
    public async Task A_get_with_an_unknown_ackMode_takes_no_message()
    {
        var vhost = await ArrangeAsync();
        await _client.PublishAsync(vhost, "x", "k", "m");

        await SendAsync("get", vhost, """{"ackMode":"sometimes"}""");

        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesReady);
    }

    // ------------------------------------------------------------------ payloads

    [Theory]
    [InlineData("not base64!")]
    [InlineData("YWJj=")]
    [InlineData("YW Jj\u00e9")]
    public async Task An_invalid_base64_payload_answers_400(string payload)
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "x"), new { routingKey = "k", payload, payloadEncoding = "base64" });

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("base64", problem.Detail());
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_string_payload_with_a_lone_surrogate_answers_400()
    {
        var vhost = await ArrangeAsync();

        var response = await SendAsync("publish", vhost, """{"routingKey":"k","payload":"a\uD800b"}""");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        await AssertNothingPublishedAsync(vhost);
    }

    /// <summary>Where <c>@@</c> stands in a template, the bytes 0xFF 0xFE (never valid in UTF-8) are sent instead.</summary>
    [Theory]
    [InlineData("publish", """{"routingKey":"k","payload":"a@@b"}""")]
    [InlineData("publish", """{"routingKey":"k@@","payload":"m"}""")]
    [InlineData("publish", """{"routingKey":"k","payload":"m","properties":{"headers":{"h@@":"v"}}}""")]
    [InlineData("publish", """{"routingKey":"k","payload":"m","properties":{"headers":{"h":"@@"}}}""")]
    [InlineData("publish", """{"routingKey":"k","payload":"m","properties":{"messageId":"@@"}}""")]
    [InlineData("bind", """{"source":"x","destination":"q","routingKey":"@@"}""")]
    [InlineData("declare-exchange", """{"type":"direct","arguments":{"a":"@@"}}""")]
    public async Task Invalid_UTF8_bytes_inside_a_JSON_string_answer_400(string endpoint, string template)
    {
        var vhost = await ArrangeAsync();
        var parts = template.Split("@@");
        byte[] body = [.. Encoding.UTF8.GetBytes(parts[0]), 0xFF, 0xFE, .. Encoding.UTF8.GetBytes(parts[1])];

        var response = await SendBytesAsync(endpoint, vhost, body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        await AssertNothingPublishedAsync(vhost);
    }

    [Theory]
    [InlineData("""{"deliveryMode":3}""")]
    [InlineData("""{"priority":256}""")]
    [InlineData("""{"priority":-1}""")]
    [InlineData("""{"timestamp":-5}""")]
    [InlineData("""{"expiration":"soon"}""")]
    [InlineData("""{"expiration":"-1"}""")]
    [InlineData("""{"expiration":"99999999999"}""")]
    [InlineData("""{"headers":{"":"empty name"}}""")]
    public async Task An_invalid_property_answers_400(string properties)
    {
        var vhost = await ArrangeAsync();

        var response = await SendAsync("publish", vhost, $$$"""{"routingKey":"k","payload":"m","properties":{{{properties}}}}""");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_property_string_longer_than_255_bytes_answers_400()
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "x"), new { routingKey = "k", payload = "m", properties = new { correlationId = TooLongMultibyte } });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task Headers_nested_too_deeply_answer_400()
    {
        var vhost = await ArrangeAsync();
        var nested = string.Concat(Enumerable.Repeat("""{"a":""", 40)) + "1" + new string('}', 40);

        var response = await SendAsync("publish", vhost, $$$"""{"routingKey":"k","payload":"m","properties":{"headers":{{{nested}}}}}""");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        await AssertNothingPublishedAsync(vhost);
    }

    // ------------------------------------------------------------------ names and routing keys

    public static TheoryData<string> NamesOver255Bytes => new() { TooLong, TooLongMultibyte };

    [Theory]
    [MemberData(nameof(NamesOver255Bytes))]
    public async Task An_exchange_name_over_255_bytes_in_the_URL_answers_400(string name)
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PutJsonAsync(Urls.Exchange(vhost, name), new { type = "direct" });

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("255", problem.Detail());
    }

    [Theory]
    [MemberData(nameof(NamesOver255Bytes))]
    public async Task A_queue_name_over_255_bytes_in_the_URL_answers_400(string name)
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PutJsonAsync(Urls.Queue(vhost, name), new { });

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("255", problem.Detail());
    }

    [Fact]
    public async Task A_vhost_name_over_255_bytes_in_the_URL_answers_400()
    {
        var response = await _client.PutAsync(Urls.Vhost(TooLong), content: null);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("DELETE")]
    public async Task An_over_long_queue_name_answers_400_for_reads_and_deletes_too(string method)
    {
        var vhost = await ArrangeAsync();

        var response = await _client.SendAsync(new HttpRequestMessage(new HttpMethod(method), Urls.Queue(vhost, TooLong)));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_name_with_a_control_character_in_the_URL_answers_400()
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PutJsonAsync(Urls.Queue(vhost, "bad\u0001name"), new { });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("source")]
    [InlineData("destination")]
    public async Task A_binding_name_over_255_bytes_in_the_body_answers_400(string field)
    {
        var vhost = await ArrangeAsync();
        var body = field == "source" ? new { source = TooLongMultibyte, destination = "q" } : new { source = "x", destination = TooLongMultibyte };

        var response = await _client.PostJsonAsync(Urls.Bindings(vhost), body);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("255", problem.Detail());
    }

    [Theory]
    [InlineData("source")]
    [InlineData("destination")]
    public async Task An_empty_binding_name_answers_400(string field)
    {
        var vhost = await ArrangeAsync();
        var body = field == "source" ? new { source = "", destination = "q" } : new { source = "x", destination = "" };

        var response = await _client.PostJsonAsync(Urls.Bindings(vhost), body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_routing_key_over_255_bytes_in_a_publish_answers_400()
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "x"), new { routingKey = TooLongMultibyte, payload = "m" });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_routing_key_of_exactly_255_bytes_is_accepted()
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PostJsonAsync(Urls.Publish(vhost, "x"), new { routingKey = new string('k', 255), payload = "m" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_routing_key_over_255_bytes_in_a_batch_answers_400_and_publishes_nothing()
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PostJsonAsync(Urls.PublishBatch(vhost, "x"),
            new { messages = new[] { new { routingKey = "k", payload = "m" }, new { routingKey = TooLong, payload = "m" } } });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        await AssertNothingPublishedAsync(vhost);
    }

    [Fact]
    public async Task A_routing_key_over_255_bytes_in_a_raw_publish_answers_400()
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PostAsync(Urls.PublishRaw(vhost, "x", TooLong), new ByteArrayContent([1]));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_binding_key_over_255_bytes_answers_400()
    {
        var vhost = await ArrangeAsync();

        var response = await _client.PostJsonAsync(Urls.Bindings(vhost), new { source = "x", destination = "q", routingKey = TooLong });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    // ------------------------------------------------------------------ numbers out of range

    [Theory]
    [InlineData("""{"max":0}""")]
    [InlineData("""{"max":-1}""")]
    [InlineData("""{"max":1001}""")]
    [InlineData("""{"max":2147483648}""")]
    [InlineData("""{"max":1e100}""")]
    [InlineData("""{"waitSeconds":-1}""")]
    [InlineData("""{"waitSeconds":121}""")]
    [InlineData("""{"waitSeconds":99999999999999999999}""")]
    [InlineData("""{"leaseSeconds":0}""")]
    [InlineData("""{"leaseSeconds":43201}""")]
    public async Task A_get_with_a_number_out_of_range_answers_400_and_takes_nothing(string body)
    {
        var vhost = await ArrangeAsync();
        await _client.PublishAsync(vhost, "x", "k", "m");

        var response = await SendAsync("get", vhost, body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(1, (await _client.GetQueueAsync(vhost, "q")).MessagesReady);
    }

    [Fact]
    public async Task Ack_with_more_than_10000_tags_answers_400()
    {
        var vhost = await ArrangeAsync();
        var tags = Enumerable.Repeat("AAAAAAAAAAAAAAAAAAAAAA", 10_001).ToArray();

        var response = await _client.PostJsonAsync(Urls.Ack(vhost, "q"), new { deliveryTags = tags });

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }
}
