using System.Net;
using System.Text.Json;

namespace Gateway.Server.Tests;

/// <summary>Checks the API's error contract: every refusal is an RFC 9457 problem document with a precise detail.</summary>
internal static class ProblemAssert
{
    public const string TypePrefix = "urn:gateway:problem:";

    /// <summary>
    /// Asserts that <paramref name="response"/> has status <paramref name="status"/>, is <c>application/problem+json</c>
    /// whose <c>status</c> matches and whose <c>detail</c> is non-empty, and, when given, has the problem
    /// <paramref name="type"/> (a full URI, or a slug after <see cref="TypePrefix"/>). Returns the document.
    /// </summary>
    public static async Task<JsonElement> IsProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? type = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status,
            $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery} answered {(int)response.StatusCode}, expected {(int)status}: {body}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json",
            $"Expected application/problem+json, got '{response.Content.Headers.ContentType}': {body}");
        JsonElement problem;
        try
        {
            problem = JsonDocument.Parse(body).RootElement.Clone();
        }
        catch (JsonException e)
        {
            Assert.Fail($"The problem document is not JSON ({e.Message}): {body}");
            throw;
        }
        Assert.True(problem.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.Number && s.GetInt32() == (int)status,
            $"The problem's 'status' should be {(int)status}: {body}");
        Assert.True(problem.TryGetProperty("detail", out var detail) && detail.ValueKind == JsonValueKind.String &&
                    !string.IsNullOrWhiteSpace(detail.GetString()), $"The problem has no 'detail': {body}");
        if (type is not null)
        {
            var expected = type.Contains(':') ? type : TypePrefix + type;
            Assert.True(problem.TryGetProperty("type", out var t) && t.GetString() == expected, $"Expected problem type '{expected}': {body}");
        }
        return problem;
    }

    /// <summary>The problem's detail text.</summary>
    public static string Detail(this JsonElement problem) => problem.GetProperty("detail").GetString()!;
}
