using System.Collections.Concurrent;
using Gateway.Broker;
using Gateway.Broker.Queues;
using RabbitMQ.Client;

namespace Gateway.RabbitMq.Queues;

/// <summary>
/// One AMQP channel that holds unacknowledged deliveries (a subscription's, or a queue's pull-lease channel), known
/// by a slot id that delivery tags carry: AMQP delivery tags belong to one channel on one connection, so a tag must
/// name both the gateway node and the channel.
/// </summary>
internal sealed class DeliverySlot(uint id, string vhost, string queue, IChannel channel, bool leases)
{
    public uint Id { get; } = id;
    public string Vhost { get; } = vhost;
    public string Queue { get; } = queue;
    public IChannel Channel { get; } = channel;
    /// <summary>True for a pull-lease channel (deliveries have deadlines), false for a subscription's.</summary>
    public bool Leases { get; } = leases;

    public readonly Lock Lock = new();
    /// <summary>
    /// Serializes the settlements of a subscription's channel, so that one of them may ack (or nack) a run of tags with
    /// AMQP's <c>multiple</c>: no other settlement's tags can be in flight below it (see PullLeases.SettleSubscriptionAsync).
    /// </summary>
    public readonly SemaphoreSlim Settling = new(1, 1);
    /// <summary>Unsettled AMQP delivery tags, with their lease deadline (Environment.TickCount64 ms; long.MaxValue for a subscription).</summary>
    public readonly Dictionary<ulong, long> Outstanding = [];
    /// <summary>Tags whose lease expired (the message went back): an ack after that is answered LeaseExpired.</summary>
    public readonly Dictionary<ulong, long> Expired = [];
    public volatile bool Closed;
    /// <summary>Set when the gateway deleted its queue (before the channel is closed): a long-poll on it ends empty.</summary>
    public volatile bool QueueDeleted;

    public void PruneExpired(long now)
    {
        if (Expired.Count < 1024) return;
        foreach (var (tag, at) in Expired.ToArray())
            if (now - at > 600_000) Expired.Remove(tag);
    }
}

/// <summary>
/// The delivery slots of this gateway node and the delivery-tag encoding: <c>Incarnation = (hash32(NodeName) &lt;&lt; 32) | slot</c>,
/// <c>Id = AMQP delivery tag</c>.
/// </summary>
internal sealed class DeliverySlots(string nodeName)
{
    private readonly ConcurrentDictionary<uint, DeliverySlot> _slots = new();
    // Slots that ended: their deliveries went back to the queue. Kept so that a late ack gets a clear answer.
    private readonly ConcurrentDictionary<uint, bool> _ended = new();
    // A random start, so that a restarted node does not take the slot ids (and tags) of its previous life.
    private int _next = Random.Shared.Next();

    public uint NodeHash { get; } = Hash(nodeName);

    /// <summary>A stable 32-bit FNV-1a hash of a node name.</summary>
    public static uint Hash(string nodeName)
    {
        var hash = 2166136261u;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(nodeName)) hash = (hash ^ b) * 16777619u;
        return hash;
    }

    public DeliverySlot Add(string vhost, string queue, IChannel channel, bool leases)
    {
        while (true)
        {
            var id = (uint)Interlocked.Increment(ref _next);
            if (id == 0) continue;
            var slot = new DeliverySlot(id, vhost, queue, channel, leases);
            if (_slots.TryAdd(id, slot)) return slot;
        }
    }

    public void Remove(DeliverySlot slot)
    {
        slot.Closed = true;
        if (_slots.TryRemove(slot.Id, out _))
        {
            if (_ended.Count > 100_000) _ended.Clear();
            _ended[slot.Id] = slot.Leases;
        }
    }

    public IEnumerable<DeliverySlot> All => _slots.Values;

    public ulong Incarnation(DeliverySlot slot) => ((ulong)NodeHash << 32) | slot.Id;

    public DeliveryTag Tag(DeliverySlot slot, ulong amqpTag) => new(Incarnation(slot), (long)amqpTag);

    public bool IsLocal(DeliveryTag tag) => (uint)(tag.Incarnation >> 32) == NodeHash;

    /// <summary>
    /// The slot a tag names, or the refusal to answer: another node's (not found: forwarding is the server's), a
    /// slot that ended (lease expired for a lease channel, not found for a subscription), another queue's.
    /// </summary>
    public DeliverySlot Resolve(DeliveryTag tag, string vhost, string queue)
    {
        if (!IsLocal(tag))
            throw new BrokerException(BrokerError.NotFound, $"Delivery tag {tag} belongs to another gateway node.");
        var id = (uint)tag.Incarnation;
        if (_slots.TryGetValue(id, out var slot))
        {
            if (slot.Vhost != vhost || slot.Queue != queue)
                throw new BrokerException(BrokerError.NotFound, $"Delivery tag {tag} is not a delivery of queue '{queue}'.");
            return slot;
        }
        if (_ended.TryGetValue(id, out var leases) && leases)
            throw new BrokerException(BrokerError.LeaseExpired, $"The lease of delivery {tag} ended (its channel closed); RabbitMQ requeued the message.");
        throw new BrokerException(BrokerError.NotFound, $"No unsettled delivery {tag} on queue '{queue}'.");
    }
}
