using Gateway.Broker.Messages;

namespace Gateway.Broker.Queues;

/// <summary>What a client declares a queue as. Two declarations are equivalent when all fields are equal.</summary>
public sealed record QueueDefinition(
    string Name,
    bool Durable = true,
    bool Exclusive = false,
    bool AutoDelete = false,
    IReadOnlyDictionary<string, object?>? Arguments = null)
{
    /// <summary>True when <paramref name="other"/> declares the same queue (RabbitMQ's equivalence check).</summary>
    public bool IsEquivalentTo(QueueDefinition other) =>
        Name == other.Name && Durable == other.Durable && Exclusive == other.Exclusive &&
        AutoDelete == other.AutoDelete && HeaderValues.Canonical(Arguments) == HeaderValues.Canonical(other.Arguments);
}
