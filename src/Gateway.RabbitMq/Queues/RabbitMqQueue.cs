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
        // Exact ready and consumer counts from a passive declare; the rest (unacknowledged, bytes, rates) from the
        // management API, which lags by up to its stats interval (~5 s).
        var passive = await vhost.Connection.OnThrowawayChannelAsync(
            c => c.QueueDeclarePassiveAsync(Name, cancellationToken), cancellationToken).ConfigureAwait(false);
        var json = await vhost.QueueJsonAsync(Name, cancellationToken).ConfigureAwait(false);
        return StatusFromJson(json?.Json, ((int)passive.MessageCount, (int)passive.ConsumerCount));
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
        await RabbitMqSubscription.StartAsync(broker, this, prefetch, cancellationToken).ConfigureAwait(false);

    public Task AckAsync(IReadOnlyCollection<DeliveryTag> tags) => broker.Leases.SettleAsync(this, tags, ack: true, requeue: false);

    public Task NackAsync(IReadOnlyCollection<DeliveryTag> tags, bool requeue, TimeSpan? delay = null)
    {
        if (delay is { } d && d > TimeSpan.Zero)
            throw new FeatureNotSupportedException(RabbitMqBroker.BackendName, BrokerFeature.NackWithDelay, "A nack with a delay");
        return broker.Leases.SettleAsync(this, tags, ack: false, requeue);
    }

    /// <summary>A nack without requeue: RabbitMQ dead-letters it (x-death) but cannot add the given headers to the copy.</summary>
    public Task RejectAsync(DeliveryTag tag, IReadOnlyDictionary<string, string> deadLetterHeaders) =>
        broker.Leases.SettleAsync(this, [tag], ack: false, requeue: false);

    public ValueTask ExtendLeasesAsync(IReadOnlyCollection<DeliveryTag> tags, TimeSpan lease)
    {
        broker.Leases.Extend(this, tags, lease);
        return default;
    }

    public async Task<int> PurgeAsync() =>
        (int)await vhost.Connection.OnThrowawayChannelAsync(c => c.QueuePurgeAsync(Name), CancellationToken.None).ConfigureAwait(false);
}
