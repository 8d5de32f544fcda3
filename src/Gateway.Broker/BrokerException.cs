namespace Gateway.Broker;

/// <summary>Why a broker operation was refused. Each maps to one AMQP reply code and one HTTP status.</summary>
public enum BrokerError
{
    /// <summary>The vhost, exchange, queue, binding or delivery does not exist (AMQP 404 NOT_FOUND).</summary>
    NotFound,
    /// <summary>The operation is not allowed on this resource, e.g. declaring <c>amq.*</c> (AMQP 403 ACCESS_REFUSED).</summary>
    AccessRefused,
    /// <summary>The resource exists with a different definition, or a precondition such as <c>ifEmpty</c> failed (AMQP 406 PRECONDITION_FAILED).</summary>
    PreconditionFailed,
    /// <summary>An argument is malformed or not supported (AMQP 406 / 540).</summary>
    InvalidArgument,
    /// <summary>The delivery's lease expired and the message went back to the queue; it may have gone to another consumer.</summary>
    LeaseExpired,
    /// <summary>The queue is exclusive to another connection (AMQP 405 RESOURCE_LOCKED).</summary>
    ResourceLocked,
}

/// <summary>A refused broker operation. Thrown only by topology and acknowledgement operations, never on the publish path.</summary>
public sealed class BrokerException(BrokerError error, string message) : Exception(message)
{
    /// <summary>The kind of refusal.</summary>
    public BrokerError Error { get; } = error;

    internal static BrokerException NotFound(string message) => new(BrokerError.NotFound, message);
    internal static BrokerException AccessRefused(string message) => new(BrokerError.AccessRefused, message);
    internal static BrokerException Precondition(string message) => new(BrokerError.PreconditionFailed, message);
    internal static BrokerException Invalid(string message) => new(BrokerError.InvalidArgument, message);
}
