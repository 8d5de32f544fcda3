using System.Collections.Concurrent;
using Gateway.Broker;
using Gateway.Broker.Queues;
using Gateway.Broker.Statistics;
using Gateway.Broker.Topology;
using Gateway.RabbitMq.Connections;
using Gateway.RabbitMq.Management;
using Gateway.RabbitMq.Queues;
using Gateway.RabbitMq.Topology;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.RabbitMq;

/// <summary>
/// The broker seam on a RabbitMQ cluster (3.10+, with <c>rabbitmq_management</c>): the gateway node becomes a
/// stateless edge; exchanges, queues, bindings and messages live in RabbitMQ, where other gateway nodes and AMQP
/// applications see them.
/// </summary>
/// <remarks>
/// <para>The gateway's vhost <c>default</c> is RabbitMQ's <c>/</c>; other names are the same on both sides. Each vhost
/// has its own AMQP connection (an AMQP connection is bound to one vhost), made on first use.</para>
/// <para>What it can do (<see cref="Features"/>): lease extension, statistics (the management API's rates) and webhooks. What
/// it refuses with <see cref="FeatureNotSupportedException"/>: delayed delivery (<c>x-delay</c>), nack with a delay,
/// atomic batches, an atomic import (it is applied item by item after a dry run) and event-stream resume. Webhooks run
/// on it, each on one gateway node at a time (<see cref="BrokerFeature.SharedByNodes"/>).</para>
/// <para>Delivery tags name this node and the AMQP channel holding the delivery (see <see cref="IsLocal"/>); an ack,
/// nack, reject or lease extension of another gateway node's tag is forwarded to that node through RabbitMQ (its
/// <c>gateway.node.&lt;hash&gt;</c> queue, answered by direct reply-to) and answered as the owner answers it, or
/// LeaseExpired when the owner is gone (RabbitMQ requeues its deliveries).</para>
/// </remarks>
public sealed class RabbitMqBroker : IBroker, IAsyncDisposable
{
    /// <summary>The backend's name, as configured (Gateway:Backend) and named in refusals.</summary>
    public const string BackendName = "RabbitMq";

    /// <summary>What the RabbitMQ backend supports.</summary>
    public static readonly BrokerFeatures RabbitMqFeatures = new(BackendName, BrokerFeature.LeaseExtend | BrokerFeature.Statistics | BrokerFeature.Webhooks | BrokerFeature.SharedByNodes);

    private readonly ConcurrentDictionary<string, Lazy<VhostConnection>> _connections = new(StringComparer.Ordinal);
    private readonly Timer _exclusiveRenewal;

    /// <summary>Creates the backend; nothing connects until the first call.</summary>
    /// <exception cref="ArgumentException">The options are invalid (the message lists <see cref="RabbitMqOptions.Validate"/>'s errors).</exception>
    public RabbitMqBroker(RabbitMqOptions options, ILogger<RabbitMqBroker>? logger = null)
    {
        if (options.Validate() is { Count: > 0 } errors) throw new ArgumentException(string.Join(" ", errors), nameof(options));
        Options = options;
        Logger = (ILogger?)logger ?? NullLogger.Instance;
        Management = new ManagementClient(options, Logger);
        Slots = new DeliverySlots(options.NodeName);
        Leases = new PullLeases(this);
        Forwarding = new SettlementForwarding(this);
        var renew = options.ExclusiveQueueExpiry / 3;
        _exclusiveRenewal = new Timer(_ => _ = RenewExclusiveQueuesAsync(), null, renew, renew);
    }

    /// <summary>The options it runs with.</summary>
    public RabbitMqOptions Options { get; }

    internal ILogger Logger { get; }
    internal ManagementClient Management { get; }
    internal DeliverySlots Slots { get; }
    internal PullLeases Leases { get; }
    internal SettlementForwarding Forwarding { get; }

    /// <summary>Gateway-exclusive queues declared through this node: (RabbitMQ vhost, queue) → owner and declaration.</summary>
    internal ConcurrentDictionary<(string Vhost, string Queue), ExclusiveQueue> ExclusiveOwners { get; } = new();

    internal sealed record ExclusiveQueue(object Owner, RabbitQueueDeclaration Declaration);

    /// <summary>The live subscriptions of this node (ended when their queue is deleted through it).</summary>
    internal ConcurrentDictionary<RabbitMqSubscription, byte> Subscriptions { get; } = new();

    /// <inheritdoc />
    public BrokerFeatures Features => RabbitMqFeatures;

    // ---------------------------------------------------------------- delivery tags (for forwarding between nodes)

    /// <summary>True when <paramref name="tag"/> was handed out by this gateway node (its ack, nack or extend can be done here).</summary>
    public bool IsLocal(DeliveryTag tag) => Slots.IsLocal(tag);

    /// <summary>The 32-bit hash of the gateway node that handed out <paramref name="tag"/>.</summary>
    public static uint NodeHashOf(DeliveryTag tag) => (uint)(tag.Incarnation >> 32);

    /// <summary>The 32-bit hash that delivery tags of the node named <paramref name="nodeName"/> carry.</summary>
    public static uint NodeHash(string nodeName) => DeliverySlots.Hash(nodeName);

    /// <summary>
    /// The gateway node among <paramref name="nodeNames"/> (e.g. the nodes registered in the shared store) that handed
    /// out <paramref name="tag"/>, or null when none did (the owner is gone: RabbitMQ redelivers its deliveries).
    /// </summary>
    public string? OwnerNodeOf(DeliveryTag tag, IEnumerable<string> nodeNames)
    {
        if (IsLocal(tag)) return Options.NodeName;
        var hash = NodeHashOf(tag);
        return nodeNames.FirstOrDefault(n => NodeHash(n) == hash);
    }

    // ---------------------------------------------------------------- vhosts

    /// <summary>The RabbitMQ vhost of a gateway vhost (<c>default</c> is <c>/</c>).</summary>
    public static string ToRabbitVhost(string name) => name == MessageBroker.DefaultVhost ? "/" : name;

    /// <summary>The gateway vhost of a RabbitMQ vhost (<c>/</c> is <c>default</c>).</summary>
    public static string FromRabbitVhost(string name) => name == "/" ? MessageBroker.DefaultVhost : name;

    internal VhostConnection ConnectionOf(string rabbitVhost) =>
        _connections.GetOrAdd(rabbitVhost, v => new Lazy<VhostConnection>(() => new VhostConnection(v, Options, Logger))).Value;

    private RabbitMqVhost VhostObject(string name) => new(this, name, ConnectionOf(ToRabbitVhost(name)));

    /// <inheritdoc />
    public async ValueTask<BrokerHealth> CheckHealthAsync(CancellationToken cancellationToken = default)
    {
        var connection = ConnectionOf("/");
        try
        {
            await connection.GetConnectionAsync(cancellationToken).ConfigureAwait(false);
            return new BrokerHealth(true, $"RabbitMQ reachable at {connection.ConnectedEndpoint}.");
        }
        catch (BrokerUnavailableException e)
        {
            return new BrokerHealth(false, e.Message);
        }
        catch (BrokerException e)
        {
            return new BrokerHealth(false, e.Message);
        }
    }

    /// <inheritdoc />
    public async ValueTask<IBrokerVhost?> GetVhostAsync(string name, CancellationToken cancellationToken = default)
    {
        if (name.Length == 0) return null;
        // An open AMQP connection to the vhost proves it exists (RabbitMQ closes a vhost's connections when it is
        // deleted, through any node): the common case, a publish, then costs no management API round trip.
        if (_connections.TryGetValue(ToRabbitVhost(name), out var open) && open.IsValueCreated && open.Value.IsConnected) return VhostObject(name);
        using var doc = await Management.GetAsync($"api/vhosts/{ManagementClient.Segment(ToRabbitVhost(name))}", cancellationToken).ConfigureAwait(false);
        return doc is null ? null : VhostObject(name);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<string>> ListVhostsAsync(CancellationToken cancellationToken = default)
    {
        using var doc = await Management.GetAsync("api/vhosts", cancellationToken).ConfigureAwait(false)
            ?? throw new BrokerUnavailableException("The RabbitMQ management API has no /api/vhosts.", TimeSpan.FromSeconds(5));
        return doc.RootElement.EnumerateArray().Select(v => FromRabbitVhost(ManagementJson.String(v, "name") ?? "/"))
            .Order(StringComparer.Ordinal).ToList();
    }

    /// <inheritdoc />
    public async ValueTask<bool> CreateVhostAsync(string name, CancellationToken cancellationToken = default)
    {
        if (Names.Validate(name) is { } error) throw new BrokerException(BrokerError.InvalidArgument, $"Vhost name {error}.");
        var rabbit = ManagementClient.Segment(ToRabbitVhost(name));
        using (var existing = await Management.GetAsync($"api/vhosts/{rabbit}", cancellationToken).ConfigureAwait(false))
            if (existing is not null) return false;
        await Management.PutAsync($"api/vhosts/{rabbit}", w => { w.WriteStartObject(); w.WriteEndObject(); }, cancellationToken).ConfigureAwait(false);
        // The gateway's AMQP users need permissions on it: the management user and every endpoint's user.
        var users = Options.AmqpEndpoints.Select(u => RabbitMqOptions.Credentials(u).User).Append(Options.ManagementCredentials.User).Distinct();
        foreach (var user in users)
            await Management.PutAsync($"api/permissions/{rabbit}/{ManagementClient.Segment(user)}", w =>
            {
                w.WriteStartObject();
                w.WriteString("configure", ".*");
                w.WriteString("write", ".*");
                w.WriteString("read", ".*");
                w.WriteEndObject();
            }, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <inheritdoc />
    public async ValueTask DeleteVhostAsync(string name, CancellationToken cancellationToken = default)
    {
        if (name == MessageBroker.DefaultVhost)
            throw new BrokerException(BrokerError.AccessRefused, $"The '{MessageBroker.DefaultVhost}' vhost cannot be deleted.");
        var rabbit = ToRabbitVhost(name);
        if (!await Management.DeleteAsync($"api/vhosts/{ManagementClient.Segment(rabbit)}", cancellationToken).ConfigureAwait(false))
            throw new BrokerException(BrokerError.NotFound, $"No vhost '{name}'.");
        if (_connections.TryRemove(rabbit, out var connection) && connection.IsValueCreated)
            await connection.Value.DisposeAsync().ConfigureAwait(false);
        foreach (var key in ExclusiveOwners.Keys.Where(k => k.Vhost == rabbit).ToList()) ExclusiveOwners.TryRemove(key, out _);
    }

    internal void DropLeaseChannel(string rabbitVhost, string queue) => Leases.DropQueue(rabbitVhost, queue);

    // ---------------------------------------------------------------- import

    /// <summary>
    /// Applies a definitions import item by item (RabbitMQ has no topology transactions). With
    /// <paramref name="allOrNothing"/>, a dry run first: if it refuses anything, nothing is applied; otherwise the items
    /// are applied one by one (a concurrent change can still refuse one of them then: the report says which).
    /// </summary>
    public async ValueTask<TopologyImportReport> ImportAsync(TopologyImport import, bool allOrNothing, bool dryRun, CancellationToken cancellationToken = default)
    {
        if (dryRun || allOrNothing)
        {
            var check = await DryRunAsync(import, cancellationToken).ConfigureAwait(false);
            if (dryRun || check.AnyRefused) return check with { Applied = !dryRun && !check.AnyRefused };
        }
        var vhosts = new List<ImportItemResult>();
        foreach (var v in import.Vhosts)
            vhosts.Add(await ItemAsync(async () => await CreateVhostAsync(v, cancellationToken).ConfigureAwait(false) ? DeclareOutcome.Created : DeclareOutcome.Existed).ConfigureAwait(false));
        var exchanges = new List<ImportItemResult>();
        foreach (var (v, x) in import.Exchanges)
            exchanges.Add(await ItemAsync(async () => await VhostObject(v).DeclareExchangeAsync(x, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false));
        var queues = new List<ImportItemResult>();
        foreach (var (v, q) in import.Queues)
            queues.Add(await ItemAsync(async () => (await VhostObject(v).DeclareQueueAsync(q, null, cancellationToken).ConfigureAwait(false)).Outcome).ConfigureAwait(false));
        var bindings = new List<ImportItemResult>();
        foreach (var (v, b) in import.Bindings)
            bindings.Add(await ItemAsync(async () => (await VhostObject(v).BindAsync(b, cancellationToken).ConfigureAwait(false)).Outcome).ConfigureAwait(false));
        return new TopologyImportReport(true, vhosts, exchanges, queues, bindings);
    }

    private static async Task<ImportItemResult> ItemAsync(Func<Task<DeclareOutcome>> declare)
    {
        try
        {
            return new ImportItemResult((await declare().ConfigureAwait(false)) == DeclareOutcome.Created ? ImportOutcome.Created : ImportOutcome.Existed);
        }
        catch (BrokerException e)
        {
            return new ImportItemResult(ImportOutcome.Refused, e.Message);
        }
    }

    private async Task<TopologyImportReport> DryRunAsync(TopologyImport import, CancellationToken cancellationToken)
    {
        var existingVhosts = (await ListVhostsAsync(cancellationToken).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
        var vhosts = import.Vhosts.Select(v => Names.Validate(v) is { } e ? new ImportItemResult(ImportOutcome.Refused, $"Vhost name {e}.")
            : new ImportItemResult(existingVhosts.Add(v) ? ImportOutcome.Created : ImportOutcome.Existed)).ToList();
        var declaredExchanges = new Dictionary<(string, string), Gateway.Broker.Exchanges.ExchangeDefinition>();
        var exchanges = new List<ImportItemResult>();
        foreach (var (v, x) in import.Exchanges)
        {
            ImportItemResult result;
            if (!existingVhosts.Contains(v)) result = new(ImportOutcome.Refused, $"No vhost '{v}'.");
            else if (declaredExchanges.TryGetValue((v, x.Name), out var earlier))
                result = earlier.IsEquivalentTo(x) ? new(ImportOutcome.Existed) : new(ImportOutcome.Refused, $"Exchange '{x.Name}' is declared twice with different definitions.");
            else
            {
                var current = await GetVhostAsync(v, cancellationToken).ConfigureAwait(false) is { } vh ? await vh.GetExchangeAsync(x.Name, cancellationToken).ConfigureAwait(false) : null;
                result = current is null
                    ? x.Name.Length == 0 || x.Name.StartsWith("amq.", StringComparison.Ordinal) ? new(ImportOutcome.Refused, $"Exchange names starting with 'amq.' are reserved; '{x.Name}' cannot be declared.") : new(ImportOutcome.Created)
                    : current.Definition.IsEquivalentTo(x) ? new(ImportOutcome.Existed) : new(ImportOutcome.Refused, $"Exchange '{x.Name}' exists with a different definition.");
            }
            if (result.Outcome != ImportOutcome.Refused) declaredExchanges[(v, x.Name)] = x;
            exchanges.Add(result);
        }
        var queues = new List<ImportItemResult>();
        var declaredQueues = new HashSet<(string, string)>();
        foreach (var (v, q) in import.Queues)
        {
            ImportItemResult result;
            try
            {
                if (!existingVhosts.Contains(v)) throw new BrokerException(BrokerError.NotFound, $"No vhost '{v}'.");
                var declaration = Definitions.ToRabbit(q, Options);
                var vh = VhostObject(v);
                var current = await vh.QueueJsonAsync(q.Name, cancellationToken).ConfigureAwait(false);
                result = current is null ? new(ImportOutcome.Created)
                    : current.Value.Type == declaration.Type && Definitions.Comparable(current.Value.Definition).IsEquivalentTo(Definitions.Comparable(q))
                        ? new(ImportOutcome.Existed) : new(ImportOutcome.Refused, $"Queue '{q.Name}' exists with a different definition.");
            }
            catch (BrokerException e)
            {
                result = new(ImportOutcome.Refused, e.Message);
            }
            if (result.Outcome != ImportOutcome.Refused) declaredQueues.Add((v, q.Name));
            queues.Add(result);
        }
        var bindings = new List<ImportItemResult>();
        foreach (var (v, b) in import.Bindings)
        {
            var sourceKnown = declaredExchanges.ContainsKey((v, b.Source)) ||
                              existingVhosts.Contains(v) && await VhostObject(v).GetExchangeAsync(b.Source, cancellationToken).ConfigureAwait(false) is not null;
            var destinationKnown = b.DestinationType == BindingDestinationType.Queue
                ? declaredQueues.Contains((v, b.Destination)) || existingVhosts.Contains(v) && await VhostObject(v).QueueJsonAsync(b.Destination, cancellationToken).ConfigureAwait(false) is not null
                : declaredExchanges.ContainsKey((v, b.Destination)) || existingVhosts.Contains(v) && await VhostObject(v).GetExchangeAsync(b.Destination, cancellationToken).ConfigureAwait(false) is not null;
            bindings.Add(sourceKnown && destinationKnown ? new(ImportOutcome.Created) : new(ImportOutcome.Refused, $"The source or destination of binding {b.Id} does not exist."));
        }
        return new TopologyImportReport(false, vhosts, exchanges, queues, bindings);
    }

    // ---------------------------------------------------------------- overview

    /// <inheritdoc />
    public async ValueTask<BrokerOverview> GetOverviewAsync(CancellationToken cancellationToken = default)
    {
        using var overview = await Management.GetAsync("api/overview", cancellationToken).ConfigureAwait(false)
            ?? throw new BrokerUnavailableException("The RabbitMQ management API has no /api/overview.", TimeSpan.FromSeconds(5));
        using var bindings = await Management.GetAsync("api/bindings", cancellationToken).ConfigureAwait(false);
        using var exchanges = await Management.GetAsync("api/exchanges", cancellationToken).ConfigureAwait(false);
        var o = overview.RootElement;
        var totals = o.TryGetProperty("object_totals", out var t) ? t : default;
        var queueTotals = o.TryGetProperty("queue_totals", out var qt) ? qt : default;
        var vhosts = (await ListVhostsAsync(cancellationToken).ConfigureAwait(false)).Count;
        var bindingCount = bindings?.RootElement.EnumerateArray().Count(b => (ManagementJson.String(b, "source") ?? "").Length > 0) ?? 0;
        var exchangeCount = exchanges?.RootElement.EnumerateArray().Count(x => !Definitions.IsHidden(ManagementJson.String(x, "name") ?? "")) ?? 0;
        var rates = new MessageRates(ManagementJson.Rate(o, "publish"), ManagementJson.Rate(o, "deliver_get"), ManagementJson.Rate(o, "ack"),
            ManagementJson.Rate(o, "redeliver"), 0);
        return new BrokerOverview(vhosts, exchangeCount, totals.ValueKind == System.Text.Json.JsonValueKind.Object ? (int)ManagementJson.Long(totals, "queues") : 0,
            bindingCount, totals.ValueKind == System.Text.Json.JsonValueKind.Object ? (int)ManagementJson.Long(totals, "consumers") : 0,
            queueTotals.ValueKind == System.Text.Json.JsonValueKind.Object ? ManagementJson.Long(queueTotals, "messages_ready") : 0,
            queueTotals.ValueKind == System.Text.Json.JsonValueKind.Object ? ManagementJson.Long(queueTotals, "messages_unacknowledged") : 0,
            0, rates);
    }

    // ---------------------------------------------------------------- exclusive queues

    // Gateway-exclusive queues carry x-expires as a safety net for a node that dies; while their owner lives, a
    // redeclaration (same arguments) renews it.
    private async Task RenewExclusiveQueuesAsync()
    {
        foreach (var ((vhost, queue), owned) in ExclusiveOwners.ToArray())
        {
            try
            {
                var d = owned.Declaration;
                await ConnectionOf(vhost).OnThrowawayChannelAsync(c =>
                    c.QueueDeclareAsync(queue, d.Durable, false, d.AutoDelete, Messages.AmqpMapping.ToTable(d.Arguments)), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Unreachable now, or deleted: tried again at the next renewal (or dropped with its owner).
            }
        }
    }

    /// <summary>Closes every connection and channel.</summary>
    public async ValueTask DisposeAsync()
    {
        await _exclusiveRenewal.DisposeAsync().ConfigureAwait(false);
        await Forwarding.DisposeAsync().ConfigureAwait(false);
        await Leases.DisposeAsync().ConfigureAwait(false);
        foreach (var connection in _connections.Values)
            if (connection.IsValueCreated) await connection.Value.DisposeAsync().ConfigureAwait(false);
        _connections.Clear();
        Management.Dispose();
    }
}
