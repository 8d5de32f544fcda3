namespace Gateway.Server.Capacity;

/// <summary>
/// A refusal for lack of capacity (a limit of <c>Gateway:Limits</c>) raised deep in a request: answered by the
/// exception handler with <see cref="Status"/>, <c>Retry-After</c> and a problem of type <c>urn:gateway:problem:{slug}</c>.
/// </summary>
internal sealed class CapacityException(int status, string slug, string detail, int retryAfterSeconds) : Exception(detail)
{
    public int Status { get; } = status;
    public string Slug { get; } = slug;
    public int RetryAfterSeconds { get; } = retryAfterSeconds;
}
