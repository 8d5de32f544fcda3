using System.Buffers;
using System.Text;

namespace Gateway.Server.Http;

/// <summary>Endpoint metadata: the JSON body must be valid UTF-8 as a whole (see <see cref="Utf8Bodies"/>).</summary>
internal sealed class Utf8BodyRequired
{
    public static readonly Utf8BodyRequired Instance = new();
}

/// <summary>
/// JSON is UTF-8 (RFC 8259), and the serializer checks the strings it reads, but not the members a lenient format skips
/// unread: RabbitMQ's definitions (whose unknown members are ignored) would take a body with invalid bytes in a member
/// name and import less than was sent. Endpoints marked <see cref="RequiresUtf8Body{TBuilder}"/> have their body checked
/// first, in one pass before binding (400 when it is not UTF-8). The typed endpoints refuse unknown members, so they
/// need no such pass.
/// </summary>
internal static class Utf8Bodies
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static TBuilder RequiresUtf8Body<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(Utf8BodyRequired.Instance);

    /// <summary>After routing and authorization: checks the bodies of the marked endpoints, then rewinds them for binding.</summary>
    public static IApplicationBuilder UseUtf8BodyCheck(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<Utf8BodyRequired>() is null || context.Request.ContentLength == 0)
        {
            await next(context);
            return;
        }
        context.Request.EnableBuffering();
        var body = context.Request.Body;
        var decoder = Strict.GetDecoder();
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer, context.RequestAborted)) > 0) decoder.GetCharCount(buffer, 0, read, flush: false);
            decoder.GetCharCount(buffer, 0, 0, flush: true);
        }
        catch (DecoderFallbackException)
        {
            await Problems.BadRequest("The request body is not valid UTF-8; JSON must be UTF-8 (RFC 8259).").ExecuteAsync(context);
            return;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        body.Position = 0;
        await next(context);
    });
}
