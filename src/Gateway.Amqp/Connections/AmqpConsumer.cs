using System.Threading.Channels;
using Gateway.Amqp.Protocol;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Broker.Queues;

namespace Gateway.Amqp.Connections;

internal sealed partial class AmqpChannel
{
    /// <summary>
    /// One basic.consume: an engine subscription and the pump that writes its deliveries as basic.deliver, in runs
    /// under the send lock (one lock round per run, not per message).
    /// </summary>
    /// <remarks>
    /// How it ends: the client cancels (basic.cancel: the pump stops, and the engine subscription ends once the
    /// deliveries already sent are settled, so that they can still be acknowledged as AMQP allows); the channel or
    /// connection ends (the subscription ends at once and the engine requeues what it held); the engine ends it (its
    /// queue was deleted: the client gets basic.cancel).
    /// </remarks>
    private sealed class AmqpConsumer(AmqpChannel channel, string tag, IBrokerQueue queue, bool noAck)
    {
        private readonly CancellationTokenSource _stop = new();
        private Task _pump = Task.CompletedTask;
        private int _outstanding;
        private volatile bool _cancelRequested;
        private int _finished;

        public string Tag { get; } = tag;
        public IBrokerQueue Queue { get; } = queue;
        public bool NoAck { get; } = noAck;
        public IBrokerSubscription Subscription { get; set; } = null!;
        /// <summary>The channel's shared prefetch (global qos), or null.</summary>
        public SemaphoreSlim? ChannelCredit { get; set; }
        public bool Stopped => _stop.IsCancellationRequested;

        public void Start() => _pump = Task.Run(PumpAsync);

        /// <summary>A delivery was sent (not auto-acknowledged).</summary>
        public void Delivered() => Interlocked.Increment(ref _outstanding);

        /// <summary>One of its deliveries was settled.</summary>
        public void Settled()
        {
            if (Interlocked.Decrement(ref _outstanding) <= 0 && _cancelRequested) _ = FinishAsync();
        }

        private async Task PumpAsync()
        {
            var reader = Subscription.Deliveries;
            var token = _stop.Token;
            var autoAcked = NoAck ? new List<DeliveryTag>() : null;
            try
            {
                while (await reader.WaitToReadAsync(token))
                {
                    await channel.WhenFlowingAsync().WaitAsync(token);
                    if (channel._connection.IsCongested) await channel._connection.WhenDrainedAsync().WaitAsync(token);
                    var credit = ChannelCredit;
                    if (credit is not null) await credit.WaitAsync(token);
                    if (!channel.WriteDeliveries(this, reader, credit, autoAcked)) return;
                    channel._connection.Wake();
                    if (autoAcked is { Count: > 0 })
                    {
                        Observe(Queue.AckAsync(autoAcked.ToArray()));
                        autoAcked.Clear();
                    }
                }
            }
            catch (OperationCanceledException)
            {
                return; // cancelled by the client, or the channel or connection ended
            }
            catch (Exception e) when (e is BrokerException or StorageException or BrokerUnavailableException)
            {
                // An auto-ack met a deleted queue: the subscription has ended too.
            }
            if (!_stop.IsCancellationRequested && Subscription.EndReason is ConsumerEndReason.QueueDeleted or ConsumerEndReason.BackendUnavailable)
            {
                channel.EndedByServer(this);
                await FinishAsync();
            }
        }

        /// <summary>basic.cancel: stops delivering; the subscription ends once what was sent is settled.</summary>
        public async Task CancelByClientAsync()
        {
            _cancelRequested = true;
            await _stop.CancelAsync();
            await _pump;
            if (Volatile.Read(ref _outstanding) <= 0) await FinishAsync();
        }

        /// <summary>The channel ended: the subscription ends now (the engine requeues what it held).</summary>
        public async Task EndAsync()
        {
            await _stop.CancelAsync();
            await _pump;
            await FinishAsync();
        }

        private async Task FinishAsync()
        {
            if (Interlocked.Exchange(ref _finished, 1) != 0) return;
            if (Subscription is not null)
                try
                {
                    await Subscription.CancelAsync();
                }
                catch (Exception e) when (e is BrokerException or StorageException or BrokerUnavailableException)
                {
                    // The queue is gone already.
                }
        }
    }

    // Writes what the consumer's buffer holds (within the channel's credit and the connection's high water) as
    // basic.deliver frames; false when the consumer or channel has stopped. The credit taken by the caller for the
    // first delivery is given back when nothing used it.
    private bool WriteDeliveries(AmqpConsumer consumer, ChannelReader<Delivery> reader, SemaphoreSlim? credit, List<DeliveryTag>? autoAcked)
    {
        var haveCredit = credit is not null;
        lock (_lock)
        {
            if (_state != ChannelState.Open || consumer.Stopped)
            {
                if (haveCredit) credit!.Release();
                return false;
            }
            lock (_connection.SendLock)
            {
                var w = _connection.Output;
                var frameMax = _connection.FrameMax;
                while (w.Length < AmqpConnection.HighWater)
                {
                    if (credit is not null && !haveCredit)
                    {
                        if (!credit.Wait(0)) break;
                        haveCredit = true;
                    }
                    if (!reader.TryRead(out var delivery)) break;
                    var tag = ++_lastDeliveryTag;
                    if (autoAcked is not null) autoAcked.Add(delivery.Tag);
                    else
                    {
                        _unacked[tag] = new Unacked(consumer.Queue, delivery.Tag, consumer, credit);
                        consumer.Delivered();
                    }
                    haveCredit = false;
                    var message = delivery.Message;
                    var at = w.BeginMethod(_number, MethodId.BasicDeliver);
                    w.WriteShortStr(consumer.Tag);
                    w.WriteLongLong(tag);
                    w.WriteBits(delivery.Redelivered);
                    w.WriteShortStr(message.Exchange);
                    w.WriteShortStr(message.RoutingKey);
                    w.EndFrame(at);
                    ContentHeader.Write(w, _number, message.Properties, message.Body.Length);
                    w.WriteBody(_number, message.Body.Span, frameMax);
                }
                if (haveCredit) credit!.Release();
            }
        }
        return true;
    }
}
