using System.Collections.Concurrent;
using Gateway.Broker;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.RabbitMq.Connections;
using Gateway.RabbitMq.Messages;
using RabbitMQ.Client;

namespace Gateway.RabbitMq.Queues;

/// <summary>
/// HTTP pull with leases, and the settlement of every delivery of this node (pulled or subscribed). One lease channel
/// per queue takes messages with basic.get; the deadlines are kept here: a sweep nacks (requeue) what expired, an
/// ack after that is answered LeaseExpired.
/// </summary>
/// <remarks>
/// Long-poll cases: messages ready → returned at once (up to max); none → basic.get again with a backoff of 10 ms
/// doubling to 200 ms until <c>wait</c> is over (then an empty answer); the caller goes away (cancellation) → what
/// was taken for it is nacked with requeue; the lease channel closes (its node died) → its deliveries come back
/// through RabbitMQ, and their acks answer LeaseExpired.
/// </remarks>
internal sealed class PullLeases : IAsyncDisposable
{
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(200);

    private readonly RabbitMqBroker _broker;
    private readonly ConcurrentDictionary<(string Vhost, string Queue), DeliverySlot> _leaseSlots = new();
    private readonly SemaphoreSlim _openGate = new(1, 1);
    private readonly Timer _sweep;
    private int _sweeping;

    public PullLeases(RabbitMqBroker broker)
    {
        _broker = broker;
        _sweep = new Timer(_ => _ = SweepAsync(), null, SweepInterval, SweepInterval);
    }

    internal static Delivery ToDelivery(DeliverySlots slots, DeliverySlot slot, ulong deliveryTag, bool redelivered, string exchange, string routingKey,
        IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body)
    {
        // The body buffer belongs to RabbitMQ.Client only for the duration of the callback: one copy, then shared.
        var props = AmqpMapping.FromBasicProperties(properties, out var returned);
        var message = new Message(exchange, routingKey, props, body.ToArray());
        // Quorum queues count returns in x-delivery-count; classic queues only say whether it came back.
        var count = returned is { } r ? (int)Math.Min(r + 1, int.MaxValue) : redelivered ? 2 : 1;
        return new Delivery(slots.Tag(slot, deliveryTag), message, redelivered || count > 1, count);
    }

    private async Task<DeliverySlot> LeaseSlotAsync(RabbitMqQueue queue, CancellationToken cancellationToken)
    {
        var key = (queue.VirtualHost.RabbitName, queue.Name);
        if (_leaseSlots.TryGetValue(key, out var slot) && !slot.Closed && slot.Channel.IsOpen) return slot;
        await _openGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_leaseSlots.TryGetValue(key, out slot) && !slot.Closed && slot.Channel.IsOpen) return slot;
            if (slot is not null) Drop(key, slot);
            var channel = await queue.VirtualHost.Connection.OpenChannelAsync(confirms: false, cancellationToken).ConfigureAwait(false);
            var created = _broker.Slots.Add(key.RabbitName, key.Name, channel, leases: true);
            channel.ChannelShutdownAsync += (_, _) =>
            {
                Drop(key, created);
                return Task.CompletedTask;
            };
            _leaseSlots[key] = created;
            return created;
        }
        finally
        {
            _openGate.Release();
        }
    }

    private void Drop((string, string) key, DeliverySlot slot)
    {
        _leaseSlots.TryRemove(new KeyValuePair<(string, string), DeliverySlot>(key, slot));
        _broker.Slots.Remove(slot);
    }

    /// <summary>Closes the lease channel of a deleted queue.</summary>
    public void DropQueue(string vhost, string queue)
    {
        if (_leaseSlots.TryRemove((vhost, queue), out var slot))
        {
            slot.QueueDeleted = true;
            _broker.Slots.Remove(slot);
            _ = VhostConnection.CloseQuietlyAsync(slot.Channel);
        }
    }

    public async ValueTask<IReadOnlyList<Delivery>> GetAsync(RabbitMqQueue queue, int max, TimeSpan wait, TimeSpan lease, CancellationToken cancellationToken)
    {
        var taken = new List<Delivery>();
        var until = Environment.TickCount64 + (long)wait.TotalMilliseconds;
        var pause = 10;
        var found = false;
        DeliverySlot? slot = null;
        await _broker.Forwarding.EnsureListeningAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (true)
            {
                slot = await LeaseSlotAsync(queue, cancellationToken).ConfigureAwait(false);
                while (taken.Count < Math.Max(1, max))
                {
                    BasicGetResult? got;
                    try
                    {
                        got = await slot.Channel.BasicGetAsync(queue.Name, autoAck: false, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (!cancellationToken.IsCancellationRequested && (AmqpErrors.Map(e) is not null || e is ObjectDisposedException))
                    {
                        // The queue was deleted while the poll waited: by this node (which closes the lease channel
                        // under the basic.get), or elsewhere (basic.get answers 404 after having found it, or fails
                        // otherwise while a quorum queue is being deleted: then a passive declare tells). The wait ends
                        // empty, as on the embedded engine; what was taken went with the queue. A queue that was
                        // missing from the first basic.get on is not found.
                        var mapped = AmqpErrors.Map(e) ?? new BrokerUnavailableException("The lease channel closed.", TimeSpan.FromSeconds(1), e);
                        var gone = slot.QueueDeleted || mapped is BrokerException { Error: BrokerError.NotFound } || await IsGoneAsync(queue).ConfigureAwait(false);
                        if (gone && (found || slot.QueueDeleted))
                        {
                            taken.Clear();
                            return taken;
                        }
                        if (gone) throw new BrokerException(BrokerError.NotFound, $"No queue '{queue.Name}' in vhost '{queue.Vhost}'.");
                        throw mapped;
                    }
                    found = true;
                    if (got is null) break;
                    var delivery = ToDelivery(_broker.Slots, slot, got.DeliveryTag, got.Redelivered, got.Exchange, got.RoutingKey, got.BasicProperties, got.Body);
                    lock (slot.Lock) slot.Outstanding[got.DeliveryTag] = Environment.TickCount64 + (long)lease.TotalMilliseconds;
                    taken.Add(delivery);
                }
                var left = until - Environment.TickCount64;
                if (taken.Count > 0 || left <= 0) return taken;
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(pause, left)), cancellationToken).ConfigureAwait(false);
                pause = Math.Min(pause * 2, 200);
            }
        }
        catch (Exception) when (taken.Count > 0 && slot is not null)
        {
            // The caller went away (or the channel failed): what was taken for it goes back.
            foreach (var d in taken)
            {
                lock (slot.Lock) slot.Outstanding.Remove((ulong)d.Tag.Id);
                try { await slot.Channel.BasicNackAsync((ulong)d.Tag.Id, false, true).ConfigureAwait(false); } catch (Exception) { }
            }
            throw;
        }
    }

    private static async Task<bool> IsGoneAsync(RabbitMqQueue queue)
    {
        try
        {
            await queue.VirtualHost.Connection.OnThrowawayChannelAsync(c => c.QueueDeclarePassiveAsync(queue.Name), CancellationToken.None).ConfigureAwait(false);
            return false;
        }
        catch (BrokerException e) when (e.Error == BrokerError.NotFound)
        {
            return true;
        }
        catch (Exception)
        {
            return false;   // unreachable: the original error stands
        }
    }

    /// <summary>Acks or nacks deliveries of this node, all or none: every tag is checked before any is sent.</summary>
    public async Task SettleAsync(RabbitMqQueue queue, IReadOnlyCollection<DeliveryTag> tags, bool ack, bool requeue)
    {
        var resolved = new List<(DeliverySlot Slot, ulong Tag)>(tags.Count);
        var now = Environment.TickCount64;
        foreach (var tag in tags)
        {
            var slot = _broker.Slots.Resolve(tag, queue.VirtualHost.RabbitName, queue.Name);
            var id = (ulong)tag.Id;
            lock (slot.Lock)
            {
                if (slot.Outstanding.TryGetValue(id, out var deadline))
                {
                    if (deadline < now) throw Expired(tag);
                }
                else if (slot.Expired.ContainsKey(id)) throw Expired(tag);
                else throw new BrokerException(BrokerError.NotFound, $"No unsettled delivery {tag} on queue '{queue.Name}'.");
            }
            resolved.Add((slot, id));
        }
        foreach (var group in resolved.GroupBy(r => r.Slot))
        {
            var slot = group.Key;
            try
            {
                if (!slot.Leases)
                {
                    await SettleSubscriptionAsync(slot, group.Select(r => r.Tag), ack, requeue).ConfigureAwait(false);
                    continue;
                }
                foreach (var (_, id) in group)
                {
                    lock (slot.Lock)
                        if (!slot.Outstanding.Remove(id)) continue;   // settled concurrently
                    await SettleOneAsync(slot.Channel, id, multiple: false, ack, requeue).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (AmqpErrors.Map(e) is not null || e is ObjectDisposedException)
            {
                throw new BrokerException(BrokerError.LeaseExpired,
                    "The channel holding the delivery closed (its RabbitMQ node or connection went away); RabbitMQ requeued the message.");
            }
        }
    }

    private static ValueTask SettleOneAsync(IChannel channel, ulong tag, bool multiple, bool ack, bool requeue) =>
        ack ? channel.BasicAckAsync(tag, multiple) : channel.BasicNackAsync(tag, multiple, requeue);

    // A subscription's channel: the tags below every other unsettled one on the channel go as one frame with AMQP's
    // 'multiple' (a WebSocket client's multiple ack of 500 deliveries costs RabbitMQ one ack, not 500), the rest one by
    // one. Only settlements take a subscription's tags out of Outstanding, and they take turns (Settling): when this one
    // holds the turn, every tag settled before it has been sent, so 'multiple' covers exactly the tags removed here.
    private static async Task SettleSubscriptionAsync(DeliverySlot slot, IEnumerable<ulong> tags, bool ack, bool requeue)
    {
        await slot.Settling.WaitAsync().ConfigureAwait(false);
        try
        {
            List<ulong> mine;
            var lowestOther = ulong.MaxValue;
            lock (slot.Lock)
            {
                mine = tags.Where(slot.Outstanding.Remove).ToList();
                foreach (var other in slot.Outstanding.Keys)
                    if (other < lowestOther) lowestOther = other;
            }
            mine.Sort();
            var run = 0;
            while (run < mine.Count && mine[run] < lowestOther) run++;
            if (run > 1) await SettleOneAsync(slot.Channel, mine[run - 1], multiple: true, ack, requeue).ConfigureAwait(false);
            for (var k = run > 1 ? run : 0; k < mine.Count; k++)
                await SettleOneAsync(slot.Channel, mine[k], multiple: false, ack, requeue).ConfigureAwait(false);
        }
        finally
        {
            slot.Settling.Release();
        }
    }

    private static BrokerException Expired(DeliveryTag tag) =>
        new(BrokerError.LeaseExpired, $"The lease of delivery {tag} expired and the message went back to the queue.");

    /// <summary>Moves lease deadlines to <paramref name="lease"/> from now, all or none.</summary>
    public void Extend(RabbitMqQueue queue, IReadOnlyCollection<DeliveryTag> tags, TimeSpan lease)
    {
        var resolved = new List<(DeliverySlot Slot, ulong Tag)>(tags.Count);
        var now = Environment.TickCount64;
        foreach (var tag in tags)
        {
            var slot = _broker.Slots.Resolve(tag, queue.VirtualHost.RabbitName, queue.Name);
            if (!slot.Leases) throw new BrokerException(BrokerError.NotFound, $"Delivery {tag} was not pulled: only pulled deliveries have leases.");
            lock (slot.Lock)
            {
                if (slot.Outstanding.TryGetValue((ulong)tag.Id, out var deadline))
                {
                    if (deadline < now) throw Expired(tag);
                }
                else if (slot.Expired.ContainsKey((ulong)tag.Id)) throw Expired(tag);
                else throw new BrokerException(BrokerError.NotFound, $"No unsettled delivery {tag} on queue '{queue.Name}'.");
            }
            resolved.Add((slot, (ulong)tag.Id));
        }
        var until = now + (long)lease.TotalMilliseconds;
        foreach (var (slot, id) in resolved)
            lock (slot.Lock)
                if (slot.Outstanding.ContainsKey(id)) slot.Outstanding[id] = until;
    }

    private async Task SweepAsync()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) != 0) return;
        try
        {
            var now = Environment.TickCount64;
            foreach (var slot in _leaseSlots.Values)
            {
                List<ulong>? expired = null;
                lock (slot.Lock)
                {
                    foreach (var (tag, deadline) in slot.Outstanding)
                        if (deadline < now) (expired ??= []).Add(tag);
                    if (expired is null) continue;
                    foreach (var tag in expired)
                    {
                        slot.Outstanding.Remove(tag);
                        slot.Expired[tag] = now;
                    }
                    slot.PruneExpired(now);
                }
                try
                {
                    foreach (var tag in expired)
                    {
                        await slot.Channel.BasicNackAsync(tag, false, true).ConfigureAwait(false);
                        Log.LeaseExpired(_broker.Logger, slot.Queue, slot.Vhost);
                    }
                }
                catch (Exception e)
                {
                    // The channel closed: RabbitMQ requeued them anyway.
                    Log.LeaseRequeueFailed(_broker.Logger, slot.Queue, e.Message);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _sweep.DisposeAsync().ConfigureAwait(false);
        foreach (var slot in _leaseSlots.Values) await VhostConnection.CloseQuietlyAsync(slot.Channel).ConfigureAwait(false);
        _leaseSlots.Clear();
    }
}
