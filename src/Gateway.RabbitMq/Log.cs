using Microsoft.Extensions.Logging;

namespace Gateway.RabbitMq;

// Stable event ids (17xx) for operators to alert on. Never payloads, never passwords (endpoints are redacted).
internal static partial class Log
{
    [LoggerMessage(1701, LogLevel.Information, "Connected to RabbitMQ at {Endpoint} for vhost '{Vhost}'.")]
    public static partial void Connected(ILogger logger, string endpoint, string vhost);

    [LoggerMessage(1702, LogLevel.Warning, "RabbitMQ endpoint {Endpoint} refused or did not answer for vhost '{Vhost}': {Reason}")]
    public static partial void EndpointFailed(ILogger logger, string endpoint, string vhost, string reason);

    [LoggerMessage(1703, LogLevel.Error, "No RabbitMQ endpoint reachable for vhost '{Vhost}'; next attempt in {Delay}.")]
    public static partial void NoEndpointReachable(ILogger logger, string vhost, TimeSpan delay);

    [LoggerMessage(1704, LogLevel.Warning, "RabbitMQ connection for vhost '{Vhost}' lost: {Code} {Reason}")]
    public static partial void ConnectionLost(ILogger logger, string vhost, ushort code, string reason);

    [LoggerMessage(1705, LogLevel.Information, "Reconnected to RabbitMQ at {Endpoint} for vhost '{Vhost}'.")]
    public static partial void Reconnected(ILogger logger, string endpoint, string vhost);

    [LoggerMessage(1706, LogLevel.Warning, "Publish to exchange '{Exchange}' in vhost '{Vhost}' was nacked (attempt {Attempt}); the channel is replaced and the message republished on a fresh one.")]
    public static partial void ChannelReplacedAfterNack(ILogger logger, string exchange, string vhost, int attempt);

    [LoggerMessage(1707, LogLevel.Warning, "Publish channel of vhost '{Vhost}' closed ({Code} {Reason}); in-doubt messages are republished.")]
    public static partial void PublishChannelClosed(ILogger logger, string vhost, ushort code, string reason);

    [LoggerMessage(1708, LogLevel.Information, "Subscription to queue '{Queue}' in vhost '{Vhost}' ended: {Reason}.")]
    public static partial void SubscriptionEnded(ILogger logger, string queue, string vhost, string reason);

    [LoggerMessage(1709, LogLevel.Debug, "Lease of a delivery from queue '{Queue}' in vhost '{Vhost}' expired; it was requeued.")]
    public static partial void LeaseExpired(ILogger logger, string queue, string vhost);

    [LoggerMessage(1710, LogLevel.Warning, "RabbitMQ management API at {Endpoint} did not answer: {Reason}")]
    public static partial void ManagementFailed(ILogger logger, string endpoint, string reason);

    [LoggerMessage(1712, LogLevel.Warning, "This node's settlement queue '{Queue}' could not be declared or consumed: settlements forwarded from other gateway nodes are answered as expired leases until it is. {Reason}")]
    public static partial void NodeQueueFailed(ILogger logger, string queue, string reason);

    [LoggerMessage(1713, LogLevel.Warning, "The answer to a forwarded settlement could not be sent: {Reason}")]
    public static partial void ForwardReplyFailed(ILogger logger, string reason);

    [LoggerMessage(1711, LogLevel.Warning, "Requeueing expired leases of queue '{Queue}' failed: {Reason}")]
    public static partial void LeaseRequeueFailed(ILogger logger, string queue, string reason);
}
