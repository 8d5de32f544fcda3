using System.Reflection;
using System.Text.Json;
using Gateway.Broker.Topology;
using Gateway.Server.Contracts;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Http;

/// <summary>
/// The 200 answer of a single publish, the publisher confirm: what <c>TypedResults.Ok(PublishResult)</c> answers, byte
/// for byte, and the same metadata for the OpenAPI document. Nearly every publish gets one of two answers (taken by one
/// queue; not taken and not mandatory); those are serialized once and then written as bytes, without a JSON writer
/// or a result object per request.
/// </summary>
internal sealed class PublishAnswer : IResult, IEndpointMetadataProvider, IStatusCodeHttpResult, IValueHttpResult, IValueHttpResult<PublishResult>, IContentTypeHttpResult
{
    private const string Json = "application/json; charset=utf-8";

    private static readonly PublishAnswer RoutedToOne = new(new PublishResult { Routed = true, Queues = 1 });
    private static readonly PublishAnswer Unrouted = new(new PublishResult { Routed = false, Queues = 0 });

    // Set once for the shared answers (the serializer options come from the container, so not before the first request).
    private byte[]? _utf8;

    private PublishAnswer(PublishResult value) => Value = value;

    /// <summary>The confirm.</summary>
    public PublishResult Value { get; }

    object? IValueHttpResult.Value => Value;

    /// <inheritdoc />
    public int? StatusCode => StatusCodes.Status200OK;

    /// <inheritdoc />
    public string ContentType => Json;

    /// <summary>The confirm of <paramref name="outcome"/>.</summary>
    public static PublishAnswer For(PublishOutcome outcome, bool mandatory) => (outcome.Queues, outcome.Rejected) switch
    {
        (1, 0) => RoutedToOne,
        (0, 0) when !mandatory => Unrouted,
        _ => new PublishAnswer(new PublishResult
        {
            Routed = outcome.Routed, Queues = outcome.Queues, Returned = mandatory && !outcome.Routed && outcome.Rejected == 0, Rejected = outcome.Rejected > 0,
        }),
    };

    /// <inheritdoc />
    public Task ExecuteAsync(HttpContext httpContext)
    {
        var utf8 = _utf8;
        if (utf8 is null)
        {
            var options = httpContext.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
            utf8 = JsonSerializer.SerializeToUtf8Bytes(Value, options.GetTypeInfo(typeof(PublishResult)));
            if (ReferenceEquals(this, RoutedToOne) || ReferenceEquals(this, Unrouted)) _utf8 = utf8;
        }
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = Json;
        response.ContentLength = utf8.Length;
        return response.Body.WriteAsync(utf8).AsTask();
    }

    /// <inheritdoc />
    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(PublishResult), ["application/json"]));
}
