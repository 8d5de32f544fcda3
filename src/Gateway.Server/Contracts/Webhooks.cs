using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using Gateway.Server.Json;

namespace Gateway.Server.Contracts;

/// <summary>How a webhook writes a message into its POST.</summary>
[JsonConverter(typeof(NamedEnumConverter<WebhookFormat>))]
public enum WebhookFormat
{
    /// <summary>The body is the payload as published; its content type is the message's; the other properties are
    /// <c>Amqp-*</c> headers as in the raw pull.</summary>
    [JsonStringEnumMemberName("raw")] Raw,
    /// <summary>The body is a JSON envelope (<c>application/json</c>) with the routing data, properties and payload.</summary>
    [JsonStringEnumMemberName("json")] Json,
    /// <summary>CloudEvents 1.0 HTTP binary mode: the payload as the body, the event attributes as <c>ce-*</c> headers
    /// (<c>ce-id</c> is the webhook id).</summary>
    [JsonStringEnumMemberName("cloudevents")] CloudEvents,
}

/// <summary>Where a webhook stands.</summary>
[JsonConverter(typeof(NamedEnumConverter<WebhookState>))]
public enum WebhookState
{
    /// <summary>Delivering.</summary>
    [JsonStringEnumMemberName("active")] Active,
    /// <summary>Paused by its definition (<c>enabled: false</c>): messages wait in the queue.</summary>
    [JsonStringEnumMemberName("paused")] Paused,
    /// <summary>Disabled by the gateway (the endpoint answered 410 Gone); see <c>disabledReason</c>. POST …/enable resumes it.</summary>
    [JsonStringEnumMemberName("disabled")] Disabled,
}

/// <summary>When a failed delivery is tried again.</summary>
public sealed class WebhookRetryPolicy
{
    /// <summary>The backoff ceiling after the first failure, in milliseconds; it doubles after each failure. Default 5000.</summary>
    [Range(1, 86_400_000)] public int InitialIntervalMilliseconds { get; set; } = 5_000;
    /// <summary>The largest backoff ceiling, in milliseconds (at least the initial interval). Default 36,000,000 (10 hours).</summary>
    [Range(1, 604_800_000)] public int MaxIntervalMilliseconds { get; set; } = 36_000_000;
    /// <summary>Most attempts of one message, the first included; null for no limit (then maxAgeSeconds must be set). Default 20.</summary>
    [Range(1, 1000)] public int? MaxAttempts { get; set; } = 20;
    /// <summary>Longest time from a message's first attempt to its last, in seconds; null for no limit (then maxAttempts must be set). Default 259,200 (3 days).</summary>
    [Range(1, 2_592_000)] public int? MaxAgeSeconds { get; set; } = 259_200;
}

/// <summary>A webhook subscription to create or replace: the queue's messages are POSTed to <c>url</c>.</summary>
public sealed class WebhookRequest
{
    /// <summary>The endpoint: an absolute http or https URL, at most 2048 characters, without user info or fragment.</summary>
    [JsonRequired, MaxLength(2048)] public string Url { get; set; } = "";
    /// <summary>
    /// The signing secret, <c>whsec_</c> + base64 of 24 to 64 bytes (Standard Webhooks); null for unsigned deliveries.
    /// Never answered back. Replacing it keeps the old one signing too for <c>secretRotationGraceSeconds</c>.
    /// </summary>
    [MaxLength(100)] public string? Secret { get; set; }
    /// <summary>When the secret changes, how long the previous one keeps signing as well (both signatures are sent), in seconds. Default 86,400 (a day).</summary>
    [Range(0, 2_592_000)] public int SecretRotationGraceSeconds { get; set; } = 86_400;
    /// <summary>Most POSTs in flight at once (also the connections to the endpoint). 1 (the default) delivers in queue order.</summary>
    [Range(1, 256)] public int Concurrency { get; set; } = 1;
    /// <summary>How long one attempt may take until the answer's status line and headers, in milliseconds. Default 10,000.</summary>
    [Range(1, 300_000)] public int TimeoutMilliseconds { get; set; } = 10_000;
    /// <summary>The retry policy; the defaults when absent.</summary>
    public WebhookRetryPolicy? Retry { get; set; }
    /// <summary>How messages are written. Default <c>raw</c>.</summary>
    public WebhookFormat Format { get; set; } = WebhookFormat.Raw;
    /// <summary>False pauses deliveries (messages wait in the queue). Default true.</summary>
    public bool Enabled { get; set; } = true;
}

/// <summary>One failed attempt, as kept in a webhook's status.</summary>
public sealed class WebhookFailure
{
    /// <summary>When the attempt ended.</summary>
    public required DateTimeOffset At { get; set; }
    /// <summary>The message's <c>webhook-id</c>.</summary>
    public required string WebhookId { get; set; }
    /// <summary>The attempt's number for this message (1 for the first).</summary>
    public required int Attempt { get; set; }
    /// <summary>The HTTP status answered, if any (none after a timeout or connection error).</summary>
    public int? Status { get; set; }
    /// <summary>What went wrong.</summary>
    public required string Error { get; set; }
    /// <summary>What followed: <c>retry</c>, <c>rejected</c> (dead-lettered) or <c>disabled</c> (410: the message went back to the queue).</summary>
    public required string Outcome { get; set; }
}

/// <summary>What a webhook has done since the gateway started, and where it stands.</summary>
public sealed class WebhookStatus
{
    /// <summary>Delivering, paused or disabled.</summary>
    public required WebhookState State { get; set; }
    /// <summary>Why the gateway disabled it.</summary>
    public string? DisabledReason { get; set; }
    /// <summary>When the gateway disabled it.</summary>
    public DateTimeOffset? DisabledAt { get; set; }
    /// <summary>Messages acknowledged by a 2xx answer.</summary>
    public required long Delivered { get; set; }
    /// <summary>Failed attempts that were followed by another.</summary>
    public required long Retried { get; set; }
    /// <summary>Messages rejected (other 4xx, or retries exhausted): dead-lettered when the queue has a dead-letter exchange, else dropped.</summary>
    public required long Failed { get; set; }
    /// <summary>Messages being delivered now (attempt in flight or waiting for a retry).</summary>
    public required int InFlight { get; set; }
    /// <summary>Messages waiting in the queue (shared with the queue's other consumers).</summary>
    public required int Backlog { get; set; }
    /// <summary>How long the oldest message in flight has been tried, in milliseconds (0 when none).</summary>
    public required long LagMilliseconds { get; set; }
    /// <summary>The last failure.</summary>
    public string? LastError { get; set; }
    /// <summary>When the last failure happened.</summary>
    public DateTimeOffset? LastErrorAt { get; set; }
    /// <summary>When the last message was delivered.</summary>
    public DateTimeOffset? LastDeliveredAt { get; set; }
    /// <summary>The most recent failed attempts, newest last.</summary>
    public required List<WebhookFailure> RecentFailures { get; set; }
}

/// <summary>A webhook subscription with its status. Secrets are never shown.</summary>
public sealed class WebhookInfo
{
    /// <summary>Its name, unique per queue.</summary>
    public required string Name { get; set; }
    /// <summary>The queue's vhost.</summary>
    public required string Vhost { get; set; }
    /// <summary>The queue it delivers from.</summary>
    public required string Queue { get; set; }
    /// <summary>The endpoint.</summary>
    public required string Url { get; set; }
    /// <summary>True when deliveries are signed.</summary>
    public required bool HasSecret { get; set; }
    /// <summary>Until when the previous secret also signs, after a rotation.</summary>
    public DateTimeOffset? PreviousSecretExpiresAt { get; set; }
    /// <summary>Most POSTs in flight at once.</summary>
    public required int Concurrency { get; set; }
    /// <summary>Timeout of one attempt, in milliseconds.</summary>
    public required int TimeoutMilliseconds { get; set; }
    /// <summary>The retry policy.</summary>
    public required WebhookRetryPolicy Retry { get; set; }
    /// <summary>How messages are written.</summary>
    public required WebhookFormat Format { get; set; }
    /// <summary>False when paused by its definition.</summary>
    public required bool Enabled { get; set; }
    /// <summary>Survives restarts (its queue is durable).</summary>
    public required bool Durable { get; set; }
    /// <summary>Counts and state.</summary>
    public required WebhookStatus Status { get; set; }
}

/// <summary>Moves messages from another queue (typically the dead-letter queue) back into the webhook's queue.</summary>
public sealed class RedriveRequest
{
    /// <summary>The queue to take messages from, in the same vhost.</summary>
    [JsonRequired] public string From { get; set; } = "";
    /// <summary>Most messages to move. Default 1000.</summary>
    [Range(1, 10_000)] public int Max { get; set; } = 1000;
}

/// <summary>The result of a redrive.</summary>
public sealed class RedriveResult
{
    /// <summary>How many messages were moved.</summary>
    public required int Moved { get; set; }
}

/// <summary>The body a webhook in <c>json</c> format POSTs.</summary>
public sealed class WebhookEnvelope
{
    /// <summary>The message's stable id (also the <c>webhook-id</c> header): the same on every attempt and redelivery.</summary>
    public required string Id { get; set; }
    /// <summary>The vhost.</summary>
    public required string Vhost { get; set; }
    /// <summary>The queue it came from.</summary>
    public required string Queue { get; set; }
    /// <summary>The exchange it was published to (<c>amq.default</c> for the default exchange).</summary>
    public required string Exchange { get; set; }
    /// <summary>Its routing key.</summary>
    public required string RoutingKey { get; set; }
    /// <summary>True when it was delivered before (to this or another consumer) and came back.</summary>
    public required bool Redelivered { get; set; }
    /// <summary>Deliveries so far, this one included (retries of one delivery do not count).</summary>
    public required int DeliveryCount { get; set; }
    /// <summary>Its properties.</summary>
    public required MessagePropertiesDto Properties { get; set; }
    /// <summary>The payload: text when it is valid UTF-8, else base64.</summary>
    public required string Payload { get; set; }
    /// <summary>How <c>payload</c> is written.</summary>
    public required PayloadEncoding PayloadEncoding { get; set; }
}
