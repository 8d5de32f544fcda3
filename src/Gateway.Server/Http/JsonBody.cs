using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Gateway.Server.Http;

/// <summary>
/// Reads a JSON request body for the publish hot path: one read of the whole body (its Content-Length is known)
/// and a synchronous parse, instead of the framework's incremental reads of the body pipe. Malformed bodies raise
/// the same <see cref="BadHttpRequestException"/> as the framework's binding, so they answer the same problems.
/// </summary>
internal static class JsonBody
{
    public static JsonTypeInfo<T> TypeInfo<T>(IOptions<JsonOptions> options) =>
        (JsonTypeInfo<T>)options.Value.SerializerOptions.GetTypeInfo(typeof(T));

    public static async ValueTask<T> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> type)
    {
        var result = await ReadWholeAsync(request);
        try
        {
            return Parse(result.Buffer, type);
        }
        finally
        {
            request.BodyReader.AdvanceTo(result.Buffer.End);
        }
    }

    /// <summary>The whole body of a JSON request (415 when it is not JSON); the caller advances the body reader past it.</summary>
    public static ValueTask<ReadResult> ReadWholeAsync(HttpRequest request)
    {
        if (!IsJson(request))
            throw new BadHttpRequestException($"Expected a JSON body (Content-Type application/json), got '{request.ContentType}'.",
                StatusCodes.Status415UnsupportedMediaType);
        var reader = request.BodyReader;
        return request.ContentLength is > 0 and <= int.MaxValue and var length
            ? reader.ReadAtLeastAsync((int)length, request.HttpContext.RequestAborted)
            : ReadToEndAsync(reader, request.HttpContext.RequestAborted);
    }

    // The usual Content-Type answered without parsing it into a media type object (HasJsonContentType does that).
    private static bool IsJson(HttpRequest request) =>
        request.ContentType is "application/json" or "application/json; charset=utf-8" || request.HasJsonContentType();

    /// <summary>The body as <typeparamref name="T"/>; malformed JSON raises the framework's 400.</summary>
    public static T Parse<T>(ReadOnlySequence<byte> body, JsonTypeInfo<T> type)
    {
        if (body.IsSingleSegment) return Parse(body.FirstSpan, type);
        // A body spread over the transport's buffers parses much faster once contiguous (batches of thousands).
        var length = checked((int)body.Length);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            body.CopyTo(rented);
            return Parse(rented.AsSpan(0, length), type);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static T Parse<T>(ReadOnlySpan<byte> body, JsonTypeInfo<T> type)
    {
        try
        {
            var json = new Utf8JsonReader(body);
            var value = JsonSerializer.Deserialize(ref json, type)
                        ?? throw new BadHttpRequestException("The request body must be a JSON object, not null.");
            // Deserialize stops after one value; anything but whitespace after it makes the body malformed.
            if (json.Read()) throw new JsonException($"Unexpected data after the JSON value at byte {json.TokenStartIndex}.");
            return value;
        }
        catch (JsonException e)
        {
            throw new BadHttpRequestException("The request body is not valid JSON for this operation.", e);
        }
    }

    private static async ValueTask<ReadResult> ReadToEndAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            if (result.IsCompleted) return result;
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }
}
