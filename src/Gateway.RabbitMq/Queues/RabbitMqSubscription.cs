using System.Threading.Channels;
using Gateway.Broker;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.RabbitMq.Connections;
using Gateway.RabbitMq.Messages;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Gateway.RabbitMq.Queues;

/// <summary>
/// One AMQP consumer on a channel of its own, with basic.qos(prefetch). Its deliveries go to a channel bounded by the
/// prefetch (RabbitMQ never sends more unacknowledged ones, so the writer never waits long).
/// </summary>
/// <remarks>
/// How it ends: <see cref="CancelAsync"/> (basic.cancel, then the channel is closed: RabbitMQ requeues the unacked
/// deliveries) → Cancelled; RabbitMQ cancels the consumer (the queue was deleted) → QueueDeleted; the channel or
/// connection goes away (a node died, a channel error) → BackendUnavailable; the gateway deletes the queue through
/// this node → QueueDeleted at once (<see cref="EndQueueDeletedAsync"/>), without waiting for RabbitMQ's basic.cancel.
/// In every case Deliveries completes.
/// </remarks>
internal sealed class RabbitMqSubscription : AsyncDefaultBasicConsumer, IBrokerSubscription
{
    private readonly RabbitMqBroker _broker;
    private readonly RabbitMqQueue _queue;
    private readonly Channel<Delivery> _deliveries;
    private DeliverySlot _slot = null!;
    private string? _consumerTag;
    private int _ended;

    private RabbitMqSubscription(RabbitMqBroker broker, RabbitMqQueue queue, IChannel channel, int prefetch) : base(channel)
    {
        _broker = broker;
        _queue = queue;
        Prefetch = prefetch;
        _deliveries = System.Threading.Channels.Channel.CreateBounded<Delivery>(new BoundedChannelOptions(Math.Clamp(prefetch, 1, 65535))
        {
            FullMode = BoundedChannelFullMode.Wait, SingleWriter = true, SingleReader = true,
        });
    }

    public static async Task<RabbitMqSubscription> StartAsync(RabbitMqBroker broker, RabbitMqQueue queue, int prefetch, bool exclusive, CancellationToken cancellationToken)
    {
        await broker.Forwarding.EnsureListeningAsync(cancellationToken).ConfigureAwait(false);
        var connection = queue.VirtualHost.Connection;
        var channel = await connection.OpenChannelAsync(confirms: false, cancellationToken).ConfigureAwait(false);
        var subscription = new RabbitMqSubscription(broker, queue, channel, prefetch);
        subscription._slot = broker.Slots.Add(queue.VirtualHost.RabbitName, queue.Name, channel, leases: false);
        try
        {
            await channel.BasicQosAsync(0, (ushort)Math.Clamp(prefetch, 0, ushort.MaxValue), false, cancellationToken).ConfigureAwait(false);
            broker.Subscriptions[subscription] = 0;
            subscription._consumerTag = await channel.BasicConsumeAsync(queue.Name, autoAck: false, consumerTag: "", noLocal: false,
                exclusive: exclusive, arguments: null, subscription, cancellationToken).ConfigureAwait(false);
            return subscription;
        }
        catch (Exception e)
        {
            broker.Subscriptions.TryRemove(subscription, out _);
            broker.Slots.Remove(subscription._slot);
            await VhostConnection.CloseQuietlyAsync(channel).ConfigureAwait(false);
            if (!cancellationToken.IsCancellationRequested && AmqpErrors.Map(e) is { } mapped) throw mapped;
            throw;
        }
    }

    public IBrokerQueue Queue => _queue;
    internal RabbitMqQueue RabbitQueue => _queue;
    public int Prefetch { get; }
    public ChannelReader<Delivery> Deliveries => _deliveries.Reader;
    public ConsumerEndReason EndReason { get; private set; }

    public override async Task HandleBasicDeliverAsync(string consumerTag, ulong deliveryTag, bool redelivered, string exchange, string routingKey,
        IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
    {
        var delivery = PullLeases.ToDelivery(_broker.Slots, _slot, deliveryTag, redelivered, exchange, routingKey, properties, body);
        lock (_slot.Lock) _slot.Outstanding[deliveryTag] = long.MaxValue;
        try
        {
            await _deliveries.Writer.WriteAsync(delivery, cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            // Ended meanwhile; the channel's close requeues it.
        }
        catch (OperationCanceledException)
        {
        }
    }

    protected override Task OnCancelAsync(string[] consumerTags, CancellationToken cancellationToken = default)
    {
        // The server cancelled the consumer (the queue was deleted); a cancel of ours ends it in CancelAsync first.
        End(ConsumerEndReason.QueueDeleted);
        _ = VhostConnection.CloseQuietlyAsync(Channel);
        return Task.CompletedTask;
    }

    public override Task HandleChannelShutdownAsync(object channel, ShutdownEventArgs reason)
    {
        End(ConsumerEndReason.BackendUnavailable);
        return base.HandleChannelShutdownAsync(channel, reason);
    }

    private bool End(ConsumerEndReason reason)
    {
        if (Interlocked.Exchange(ref _ended, 1) != 0) return false;
        EndReason = reason;
        _broker.Subscriptions.TryRemove(this, out _);
        _broker.Slots.Remove(_slot);
        _deliveries.Writer.TryComplete();
        Log.SubscriptionEnded(_broker.Logger, _queue.Name, _queue.Vhost, reason.ToString());
        return true;
    }

    /// <summary>Its queue was deleted through this gateway node: it ends as RabbitMQ's basic.cancel would end it.</summary>
    public async Task EndQueueDeletedAsync()
    {
        if (End(ConsumerEndReason.QueueDeleted)) await VhostConnection.CloseQuietlyAsync(Channel).ConfigureAwait(false);
    }

    public async ValueTask CancelAsync()
    {
        if (!End(ConsumerEndReason.Cancelled)) return;
        try
        {
            if (_consumerTag is not null && Channel.IsOpen) await Channel.BasicCancelAsync(_consumerTag, noWait: false).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The channel went meanwhile: RabbitMQ requeues its unacked deliveries all the same.
        }
        await VhostConnection.CloseQuietlyAsync(Channel).ConfigureAwait(false);
    }
}
