using Gateway.Broker.Exchanges;
using Gateway.Broker.Queues;

namespace Gateway.Broker.Topology;

/// <summary>
/// Topology to declare in one transaction (<see cref="MessageBroker.Import"/>): vhosts, then exchanges, queues and
/// bindings, each in the order given (a binding may use an exchange or queue declared before it in the same import).
/// </summary>
public sealed class TopologyImport
{
    /// <summary>Vhosts to create.</summary>
    public List<string> Vhosts { get; } = [];
    /// <summary>Exchanges to declare, by vhost.</summary>
    public List<(string Vhost, ExchangeDefinition Definition)> Exchanges { get; } = [];
    /// <summary>Queues to declare, by vhost.</summary>
    public List<(string Vhost, QueueDefinition Definition)> Queues { get; } = [];
    /// <summary>Bindings to add, by vhost.</summary>
    public List<(string Vhost, Binding Binding)> Bindings { get; } = [];
}

/// <summary>What the import did with one item.</summary>
public enum ImportOutcome
{
    /// <summary>It did not exist and was created.</summary>
    Created,
    /// <summary>An equivalent one existed; nothing changed.</summary>
    Existed,
    /// <summary>The broker refused it (see the reason); nothing was declared for it.</summary>
    Refused,
}

/// <summary>The outcome of one item, with the broker's reason when it was refused.</summary>
public readonly record struct ImportItemResult(ImportOutcome Outcome, string? Reason = null)
{
    internal static ImportItemResult From(DeclareOutcome outcome) => new(outcome == DeclareOutcome.Created ? ImportOutcome.Created : ImportOutcome.Existed);
}

/// <summary>
/// What an import did, item by item in the order of the <see cref="TopologyImport"/>. <see cref="Applied"/> is false
/// when nothing was changed because the import was all-or-nothing and some item was refused.
/// </summary>
public sealed record TopologyImportReport(
    bool Applied,
    IReadOnlyList<ImportItemResult> Vhosts,
    IReadOnlyList<ImportItemResult> Exchanges,
    IReadOnlyList<ImportItemResult> Queues,
    IReadOnlyList<ImportItemResult> Bindings)
{
    /// <summary>True when some item was refused.</summary>
    public bool AnyRefused => Vhosts.Concat(Exchanges).Concat(Queues).Concat(Bindings).Any(r => r.Outcome == ImportOutcome.Refused);
}
