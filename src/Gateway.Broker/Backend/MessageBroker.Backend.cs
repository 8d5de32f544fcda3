using Gateway.Broker.Statistics;
using Gateway.Broker.Topology;

namespace Gateway.Broker;

// The embedded engine as an IBroker: every call completes synchronously, without a network in between.
public sealed partial class MessageBroker : IBroker
{
    /// <summary>The embedded engine's name and capabilities: all of them.</summary>
    public static readonly BrokerFeatures EmbeddedFeatures = new("Embedded",
        BrokerFeature.DelayedDelivery | BrokerFeature.NackWithDelay | BrokerFeature.LeaseExtend | BrokerFeature.EventStreamResume |
        BrokerFeature.Webhooks | BrokerFeature.Statistics | BrokerFeature.AtomicBatch | BrokerFeature.AtomicImport | BrokerFeature.DelayedCount);

    private static readonly BrokerHealth Healthy = new(true, "Embedded engine.");

    BrokerFeatures IBroker.Features => EmbeddedFeatures;

    ValueTask<BrokerHealth> IBroker.CheckHealthAsync(CancellationToken cancellationToken) => new(Healthy);

    ValueTask<IBrokerVhost?> IBroker.GetVhostAsync(string name, CancellationToken cancellationToken) => new(GetVhost(name));

    ValueTask<IReadOnlyList<string>> IBroker.ListVhostsAsync(CancellationToken cancellationToken) =>
        new(ListVhosts().Select(v => v.Name).ToList());

    ValueTask<bool> IBroker.CreateVhostAsync(string name, CancellationToken cancellationToken) => new(CreateVhost(name));

    ValueTask IBroker.DeleteVhostAsync(string name, CancellationToken cancellationToken)
    {
        DeleteVhost(name);
        return default;
    }

    ValueTask<TopologyImportReport> IBroker.ImportAsync(TopologyImport import, bool allOrNothing, bool dryRun, CancellationToken cancellationToken) =>
        new(Import(import, allOrNothing, dryRun));

    ValueTask<BrokerOverview> IBroker.GetOverviewAsync(CancellationToken cancellationToken) => new(GetOverview());
}
