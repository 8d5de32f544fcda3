using System.Text.Json;
using Gateway.Broker;
using Gateway.Broker.Queues;
using Gateway.Broker.Statistics;
using Gateway.RabbitMq.Management;
using Gateway.RabbitMq.Topology;

namespace Gateway.RabbitMq.Queues;

/// <summary>
/// A RabbitMQ queue as the gateway sees it. A handle: it holds the definition read when it was looked up, and every
/// operation goes to RabbitMQ (a queue deleted meanwhile answers not found).
/// </summary>
internal sealed class RabbitMqQueue(RabbitMqBroker broker, RabbitMqVhost vhost, QueueDefinition definition) : IBrokerQueue
{
    public QueueDefinition Definition { get; } = definition;
    public string Name => Definition.Name;
    public string Vhost => vhost.Name;
    internal RabbitMqVhost VirtualHost => vhost;

    /// <summary>
    /// A hash of the vhost and queue name: RabbitMQ has no queue id that a client can read, so a queue deleted and
    /// declared again under its name has the same incarnation here (delivery tags do not use it: they name a channel).
    /// </summary>
    public ulong Incarnation => IncarnationOf(vhost.RabbitName, Name);

    internal static ulong IncarnationOf(string vhost, string queue)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(vhost + "\0" + queue)) hash = (hash ^ b) * 1099511628211UL;
        return hash;
    }

    public async ValueTask<QueueStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        // Ready and consumers are exact: a passive declare answers them from the queue itself. Unacknowledged is the
        // larger of what this node holds now (exact for its own subscriptions and pull leases) and the management
        // API's figure, which covers the other gateway nodes and AMQP applications but lags by up to its stats
        // interval (collect_statistics_interval, 5 s by default): a delivery another node just took or just settled
        // shows up to that late. Bytes and rates come from the management API with the same lag.
        var passive = await vhost.Connection.OnThrowawayChannelAsync(
            c => c.QueueDeclarePassiveAsync(Name, cancellationToken), cancellationToken).ConfigureAwait(false);
        var json = await vhost.QueueJsonAsync(Name, cancellationToken).ConfigureAwait(false);
        var status = StatusFromJson(json?.Json, ((int)passive.MessageCount, (int)passive.ConsumerCount));
        var held = HeldHere();
        return held > status.MessagesUnacknowledged ? status with { MessagesUnacknowledged = held } : status;
    }

    // Deliveries of this queue that this node's channels hold unsettled (leases not yet swept count: RabbitMQ still
    // counts them unacknowledged until the sweep's nack).
    private int HeldHere()
    {
        var held = 0;
        foreach (var slot in broker.Slots.All)
        {
            if (slot.Closed || slot.Vhost != vhost.RabbitName || slot.Queue != Name) continue;
            lock (slot.Lock) held += slot.Outstanding.Count;
        }
        return held;
    }

    internal static QueueStatus StatusFromJson(JsonElement? json, (int Ready, int Consumers)? exact)
    {
        var q = json ?? default;
        var has = json is not null;
        var ready = exact?.Ready ?? (has ? (int)ManagementJson.Long(q, "messages_ready") : 0);
        var consumers = exact?.Consumers ?? (has ? (int)ManagementJson.Long(q, "consumers") : 0);
        if (!has) return new QueueStatus(ready, 0, 0, consumers, 0, null, MessageRates.Zero);
        var rates = new MessageRates(ManagementJson.Rate(q, "publish"), ManagementJson.Rate(q, "deliver_get"), ManagementJson.Rate(q, "ack"),
            ManagementJson.Rate(q, "redeliver"), 0);
        var counters = new QueueCounters(ManagementJson.Total(q, "publish"), ManagementJson.Total(q, "deliver_get"), ManagementJson.Total(q, "ack"),
            ManagementJson.Total(q, "redeliver"), 0);
        return new QueueStatus(ready, (int)ManagementJson.Long(q, "messages_unacknowledged"), 0, consumers,
            ManagementJson.Long(q, "message_bytes_ready"), null, rates, counters);
    }

    public void RequireAccess(object? connection)
    {
        if (!Definition.Exclusive) return;
        if (broker.ExclusiveOwners.TryGetValue((vhost.RabbitName, Name), out var owned) && ReferenceEquals(owned.Owner, connection)) return;
        throw new BrokerException(BrokerError.ResourceLocked, $"Queue '{Name}' in vhost '{Vhost}' is exclusive to another connection.");
    }

    public ValueTask<IReadOnlyList<Delivery>> GetAsync(int max, TimeSpan wait, TimeSpan lease, CancellationToken cancellationToken = default) =>
        broker.Leases.GetAsync(this, max, wait, lease, cancellationToken);

    public async ValueTask<IBrokerSubscription> SubscribeAsync(int prefetch, CancellationToken cancellationToken = default) =>
        await RabbitMqSubscription.StartAsync(broker, this, prefetch, exclusive: false, cancellationToken).ConfigureAwait(false);

    // RabbitMQ refuses it (and any consumer beside it) with 403 ACCESS_REFUSED, which AmqpErrors maps.
    public async ValueTask<IBrokerSubscription> SubscribeExclusiveAsync(int prefetch, CancellationToken cancellationToken = default) =>
        await RabbitMqSubscription.StartAsync(broker, this, prefetch, exclusive: true, cancellationToken).ConfigureAwait(false);

    public Task AckAsync(IReadOnlyCollection<DeliveryTag> tags) =>
        SettleAsync(tags, "ack", requeue: false, TimeSpan.Zero, local => broker.Leases.SettleAsync(this, local, ack: true, requeue: false));

    public Task NackAsync(IReadOnlyCollection<DeliveryTag> tags, bool requeue, TimeSpan? delay = null)
    {
        if (delay is { } d && d > TimeSpan.Zero)
            throw new FeatureNotSupportedException(RabbitMqBroker.BackendName, BrokerFeature.NackWithDelay, "A nack with a delay");
        return SettleAsync(tags, "nack", requeue, TimeSpan.Zero, local => broker.Leases.SettleAsync(this, local, ack: false, requeue));
    }

    /// <summary>A nack without requeue: RabbitMQ dead-letters it (x-death) but cannot add the given headers to the copy.</summary>
    public Task RejectAsync(DeliveryTag tag, IReadOnlyDictionary<string, string> deadLetterHeaders) =>
        SettleAsync([tag], "nack", requeue: false, TimeSpan.Zero, local => broker.Leases.SettleAsync(this, local, ack: false, requeue: false));

    public async ValueTask ExtendLeasesAsync(IReadOnlyCollection<DeliveryTag> tags, TimeSpan lease) =>
        await SettleAsync(tags, "extend", requeue: false, lease, local =>
        {
            broker.Leases.Extend(this, local, lease);
            return Task.CompletedTask;
        }).ConfigureAwait(false);

    // Tags of this node are settled here; the others are forwarded to the node that holds them (SettlementForwarding).
    // All or none holds per node: a request mixing nodes' tags is settled node by node, this node's last.
    private async Task SettleAsync(IReadOnlyCollection<DeliveryTag> tags, string operation, bool requeue, TimeSpan lease,
        Func<IReadOnlyCollection<DeliveryTag>, Task> settleLocally)
    {
        if (tags.All(broker.Slots.IsLocal))
        {
            await settleLocally(tags).ConfigureAwait(false);
            return;
        }
        foreach (var owner in tags.Where(t => !broker.Slots.IsLocal(t)).GroupBy(RabbitMqBroker.NodeHashOf))
            await broker.Forwarding.ForwardAsync(owner.Key, this, operation, owner.ToList(), requeue, lease).ConfigureAwait(false);
        var local = tags.Where(broker.Slots.IsLocal).ToList();
        if (local.Count > 0) await settleLocally(local).ConfigureAwait(false);
    }

    public async Task<int> PurgeAsync() =>
        (int)await vhost.Connection.OnThrowawayChannelAsync(c => c.QueuePurgeAsync(Name), CancellationToken.None).ConfigureAwait(false);
}
