using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gateway.Broker.Messages;
using Gateway.Server.Contracts;
using Gateway.Server.Http;
using Gateway.Server.Validation;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Tests;

/// <summary>
/// The single publish's direct reading of its body (<see cref="PublishBody"/>) against the general path it stands in
/// for (the server's serializer, the publish checks and the mapping to a message): whatever the direct reading takes,
/// the general path takes too, to the same message; and it does take the common shapes.
/// </summary>
public sealed class PublishBodyTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    private const int MaxBytes = 1024;
    private static readonly GatewayLimitsOptions Limits = new() { MaxMessageBytes = MaxBytes };

    private JsonTypeInfo<PublishRequest> Type =>
        JsonBody.TypeInfo<PublishRequest>(factory.Services.GetRequiredService<IOptions<JsonOptions>>());

    private static readonly string[] CommonBodies =
    [
        """{"routingKey":"k","payload":"p"}""",
        """{"payload":"p"}""",
        """ { "payload" : "" , "routingKey" : "" } """,
        """{"routingKey":"orders.eu","payload":"0123456789abcdef","mandatory":true}""",
        """{"routingKey":"k","payload":"x","mandatory":false,"payloadEncoding":"string"}""",
        """{"routingKey":"k","payload":"x","properties":null}""",
        """{"routingKey":"k","payload":"x","properties":{}}""",
        """{"routingKey":"k","payload":"x","properties":{"deliveryMode":1}}""",
        """{"routingKey":"k","payload":"x","properties":{"deliveryMode":2}}""",
        """{"routingKey":"k","payload":"line\nbreak \"quoted\" back\\slash \u00e9 \/"}""",
        """{"routingKey":"h\u00e9llo","payload":"h\u00e9llo w\u00f6rld"}""",
        "{\"routingKey\":\"k\",\"payload\":\"héllo wörld ✓ 😀\"}",
        "{\"routingKey\":\"" + new string('r', 255) + "\",\"payload\":\"" + new string('p', MaxBytes) + "\"}",
    ];

    public static TheoryData<string> Common => new(CommonBodies);

    public static TheoryData<string> Declined => new()
    {
        """{"routingKey":"k"}""",                                               // payload missing
        """{"routingKey":"k","payload":"x"} x""",                                // data after the object
        """{"routingKey":"k","payload":"x""",                                    // truncated
        """{"RoutingKey":"k","payload":"x"}""",                                  // another spelling
        """{"routingKey":"k","payload":"x","extra":1}""",                        // unknown member
        """{"routingKey":"k","payload":"x","payload":"y"}""",                    // repeated
        """{"routingKey":null,"payload":"x"}""",
        """{"routingKey":5,"payload":"x"}""",
        """{"routingKey":"k","payload":"eA==","payloadEncoding":"base64"}""",
        """{"routingKey":"k","payload":"x","mandatory":"yes"}""",
        """{"routingKey":"k","payload":"x","properties":{"deliveryMode":3}}""",
        """{"routingKey":"k","payload":"x","properties":{"deliveryMode":"2"}}""",
        """{"routingKey":"k","payload":"x","properties":{"deliveryMode":2,"priority":1}}""",
        """{"routingKey":"k","payload":"x","properties":{"contentType":"text/plain"}}""",
        """{"routingKey":"k","payload":"\ud800"}""",                             // a lone surrogate: the checks refuse it
        """{"routingKey":"k","payload":"\ud83d\ude00"}""",                       // a pair: the general path reads it
        """{"routingKey":"\ud800","payload":"x"}""",
        """["routingKey","payload"]""",
        "{\"routingKey\":\"" + new string('r', 256) + "\",\"payload\":\"x\"}",   // key over 255 bytes
        "{\"routingKey\":\"k\",\"payload\":\"" + new string('p', MaxBytes + 1) + "\"}", // over the limit: the general path answers 413
    };

    [Theory]
    [MemberData(nameof(Common))]
    public void The_common_shapes_are_read_directly_to_the_message_the_general_path_makes(string json)
    {
        var direct = PublishBody.TryRead(Encoding.UTF8.GetBytes(json), "x", MaxBytes);

        Assert.NotNull(direct);
        AssertSameAsGeneralPath(json, direct.Value);
    }

    [Theory]
    [MemberData(nameof(Declined))]
    public void Other_bodies_are_left_to_the_general_path(string json) =>
        Assert.Null(PublishBody.TryRead(Encoding.UTF8.GetBytes(json), "x", MaxBytes));

    [Fact]
    public void Invalid_UTF8_in_the_payload_is_left_to_the_general_path()
    {
        var json = Encoding.UTF8.GetBytes("""{"routingKey":"k","payload":"ab"}""");
        json[^3] = 0xFF;

        Assert.Null(PublishBody.TryRead(json, "x", MaxBytes));
    }

    [Fact]
    public void Whatever_is_read_directly_from_thousands_of_mutated_bodies_the_general_path_reads_alike()
    {
        // Random edits of common bodies: insertions, deletions and replacements of JSON-significant characters.
        var random = new Random(1607);
        var seeds = CommonBodies;
        const string alphabet = "{}[]\":,\\ u0123456789abcdefABCDEFnrt-+.eE truefalsenull\u00e9😀";
        var taken = 0;
        for (var i = 0; i < 5000; i++)
        {
            var text = new StringBuilder(seeds[random.Next(seeds.Length)]);
            for (var edits = random.Next(1, 4); edits > 0 && text.Length > 0; edits--)
            {
                var at = random.Next(text.Length);
                switch (random.Next(3))
                {
                    case 0: text.Insert(at, alphabet[random.Next(alphabet.Length)]); break;
                    case 1: text.Remove(at, 1); break;
                    default: text[at] = alphabet[random.Next(alphabet.Length)]; break;
                }
            }
            var json = text.ToString();
            if (PublishBody.TryRead(Encoding.UTF8.GetBytes(json), "x", MaxBytes) is not { } direct) continue;
            taken++;
            AssertSameAsGeneralPath(json, direct);
        }
        Assert.True(taken > 100, $"Only {taken} mutated bodies were read directly: the property checks too little.");
    }

    private void AssertSameAsGeneralPath(string json, PublishBody direct)
    {
        PublishRequest request;
        try
        {
            request = JsonBody.Parse(new System.Buffers.ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(json)), Type);
        }
        catch (Exception e) when (e is Microsoft.AspNetCore.Http.BadHttpRequestException or JsonException)
        {
            Assert.Fail($"The general path refuses what was read directly: {json}\n{e.Message}");
            return;
        }
        Assert.True(PublishChecks.IsValid(request, Limits), $"The publish checks refuse what was read directly: {json}");
        var expected = MessageMapping.ToMessage("x", request, MaxBytes);
        Assert.NotNull(expected);
        var actual = direct.Message!;
        Assert.Null(direct.Request);
        Assert.Equal((expected.Exchange, expected.RoutingKey, request.Mandatory), (actual.Exchange, actual.RoutingKey, direct.Mandatory));
        Assert.Equal(expected.Body.ToArray(), actual.Body.ToArray());
        Assert.Equal(expected.Properties.DeliveryMode, actual.Properties.DeliveryMode);
        Assert.Equal(Describe(expected.Properties), Describe(actual.Properties));
    }

    private static string Describe(MessageProperties p) => JsonSerializer.Serialize(MessageMapping.ToDto(p), GatewayFactory.Json);
}
