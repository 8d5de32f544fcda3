using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Server.Contracts;

namespace Gateway.Server.Webhooks;

/// <summary>Identifies a webhook: its queue's vhost and name, and its own name.</summary>
internal readonly record struct WebhookKey(string Vhost, string Queue, string Name)
{
    public override string ToString() => $"{Vhost}/{Queue}/{Name}";
}

/// <summary>
/// A webhook's settings as the gateway keeps them (and stores them, as JSON, with the topology): the request's values
/// with defaults filled in, plus the previous secret during a rotation. Compared by value to tell whether a PUT changed
/// anything.
/// </summary>
internal sealed record WebhookDefinition
{
    public required string Url { get; init; }
    public string? Secret { get; init; }
    public string? PreviousSecret { get; init; }
    public DateTimeOffset? PreviousSecretExpiresAt { get; init; }
    public required int Concurrency { get; init; }
    public required int TimeoutMilliseconds { get; init; }
    public required int InitialIntervalMilliseconds { get; init; }
    public required int MaxIntervalMilliseconds { get; init; }
    public int? MaxAttempts { get; init; }
    public int? MaxAgeSeconds { get; init; }
    public required WebhookFormat Format { get; init; }
    public required bool Enabled { get; init; }

    /// <summary>
    /// The definition a request asks for. A new secret starts a rotation: the one it replaces keeps signing until
    /// now + grace. Sending the same secret again keeps a rotation in progress.
    /// </summary>
    public static WebhookDefinition From(WebhookRequest request, WebhookDefinition? current, DateTimeOffset now)
    {
        var retry = request.Retry ?? new WebhookRetryPolicy();
        string? previous = null;
        DateTimeOffset? previousExpires = null;
        if (current?.Secret is { } old && old != request.Secret && request.SecretRotationGraceSeconds > 0)
            (previous, previousExpires) = (old, now.AddSeconds(request.SecretRotationGraceSeconds));
        else if (current is not null && current.Secret == request.Secret && current.PreviousSecretExpiresAt > now)
            (previous, previousExpires) = (current.PreviousSecret, current.PreviousSecretExpiresAt);
        return new WebhookDefinition
        {
            Url = request.Url,
            Secret = request.Secret,
            PreviousSecret = request.Secret is null ? null : previous,
            PreviousSecretExpiresAt = request.Secret is null ? null : previousExpires,
            Concurrency = request.Concurrency,
            TimeoutMilliseconds = request.TimeoutMilliseconds,
            InitialIntervalMilliseconds = retry.InitialIntervalMilliseconds,
            MaxIntervalMilliseconds = retry.MaxIntervalMilliseconds,
            MaxAttempts = retry.MaxAttempts,
            MaxAgeSeconds = retry.MaxAgeSeconds,
            Format = request.Format,
            Enabled = request.Enabled,
        };
    }

    public RetrySchedule Schedule() => new(TimeSpan.FromMilliseconds(InitialIntervalMilliseconds), TimeSpan.FromMilliseconds(MaxIntervalMilliseconds),
        MaxAttempts, MaxAgeSeconds is { } age ? TimeSpan.FromSeconds(age) : null);

    public WebhookRetryPolicy RetryPolicy() => new()
    {
        InitialIntervalMilliseconds = InitialIntervalMilliseconds,
        MaxIntervalMilliseconds = MaxIntervalMilliseconds,
        MaxAttempts = MaxAttempts,
        MaxAgeSeconds = MaxAgeSeconds,
    };

    public string Serialize() => JsonSerializer.Serialize(this, WebhookStoreJsonContext.Default.WebhookDefinition);

    public static WebhookDefinition? Deserialize(string json) => JsonSerializer.Deserialize(json, WebhookStoreJsonContext.Default.WebhookDefinition);
}

/// <summary>The stored form of <see cref="WebhookDefinition"/>.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(WebhookDefinition))]
internal sealed partial class WebhookStoreJsonContext : JsonSerializerContext;
