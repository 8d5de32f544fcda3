using Gateway.Broker.Statistics;
using Gateway.Broker.Topology;

namespace Gateway.Broker;

/// <summary>
/// The broker the server talks to: the seam between the HTTP/WebSocket edge and whatever holds the exchanges, queues
/// and messages. Two implementations: the embedded engine (<see cref="MessageBroker"/>, the default) and a RabbitMQ
/// cluster (Gateway.RabbitMq). Endpoints, WebSocket and SSE sessions, the webhook dispatcher, the dashboard and the
/// metrics use only this interface and the ones it hands out (<see cref="IBrokerVhost"/>, <see cref="IBrokerQueue"/>,
/// <see cref="IBrokerSubscription"/>); they ask <see cref="Features"/> what the backend can do instead of asking which
/// backend it is.
/// </summary>
/// <remarks>
/// Conventions every implementation keeps:
/// <list type="bullet">
/// <item>Refusals of the AMQP model (not found, precondition failed, access refused, resource locked, invalid
/// argument) throw <see cref="BrokerException"/>; the publish path answers them as a <see cref="PublishOutcome"/>
/// status instead.</item>
/// <item>A backend that cannot be reached right now throws <see cref="BrokerUnavailableException"/> (HTTP 503 with
/// Retry-After): never a hang, never a generic failure.</item>
/// <item>A feature the backend does not have throws <see cref="FeatureNotSupportedException"/> naming the backend.</item>
/// <item>Methods that may cross a network return <see cref="ValueTask"/>: the embedded engine completes them
/// synchronously, without allocating.</item>
/// </list>
/// </remarks>
public interface IBroker
{
    /// <summary>What this backend is and what it can do.</summary>
    BrokerFeatures Features { get; }

    /// <summary>Whether the backend can serve now (for /readyz): reachable, and why not when it is not.</summary>
    ValueTask<BrokerHealth> CheckHealthAsync(CancellationToken cancellationToken = default);

    /// <summary>The vhost, or null when it does not exist.</summary>
    ValueTask<IBrokerVhost?> GetVhostAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>All vhost names, ordered.</summary>
    ValueTask<IReadOnlyList<string>> ListVhostsAsync(CancellationToken cancellationToken = default);

    /// <summary>Creates a vhost; true when it did not exist.</summary>
    ValueTask<bool> CreateVhostAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Deletes a vhost with everything in it. The default vhost cannot be deleted.</summary>
    ValueTask DeleteVhostAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Declares a whole topology (the definitions import). Each item is declared as its own call would be; refused
    /// items are reported and skipped. With <paramref name="allOrNothing"/>, one refusal refuses all; with
    /// <paramref name="dryRun"/>, nothing changes. A backend without transactional topology applies the items one by
    /// one and reports what it did (<see cref="BrokerFeature.AtomicImport"/>).
    /// </summary>
    ValueTask<TopologyImportReport> ImportAsync(TopologyImport import, bool allOrNothing, bool dryRun, CancellationToken cancellationToken = default);

    /// <summary>Counts of everything and message rates, summed over all vhosts.</summary>
    ValueTask<BrokerOverview> GetOverviewAsync(CancellationToken cancellationToken = default);
}

/// <summary>Whether the backend can serve.</summary>
/// <param name="Ready">True when publishing and consuming can work now.</param>
/// <param name="Detail">What is wrong when not ready (e.g. "no RabbitMQ node reachable"), or what is used when ready.</param>
public readonly record struct BrokerHealth(bool Ready, string Detail);
