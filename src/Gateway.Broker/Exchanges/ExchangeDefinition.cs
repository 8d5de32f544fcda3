using Gateway.Broker.Messages;

namespace Gateway.Broker.Exchanges;

/// <summary>What a client declares an exchange as. Two declarations are equivalent when all fields are equal.</summary>
public sealed record ExchangeDefinition(
    string Name,
    ExchangeType Type,
    bool Durable = true,
    bool AutoDelete = false,
    bool Internal = false,
    IReadOnlyDictionary<string, object?>? Arguments = null)
{
    /// <summary>The argument naming the exchange that takes messages this one cannot route.</summary>
    public const string AlternateExchangeArgument = "alternate-exchange";

    /// <summary>The alternate exchange's name, when the argument is set.</summary>
    public string? AlternateExchange =>
        Arguments is not null && Arguments.TryGetValue(AlternateExchangeArgument, out var v) ? v as string : null;

    /// <summary>True when <paramref name="other"/> declares the same exchange (RabbitMQ's equivalence check).</summary>
    public bool IsEquivalentTo(ExchangeDefinition other) =>
        Name == other.Name && Type == other.Type && Durable == other.Durable && AutoDelete == other.AutoDelete &&
        Internal == other.Internal && HeaderValues.Canonical(Arguments) == HeaderValues.Canonical(other.Arguments);
}
