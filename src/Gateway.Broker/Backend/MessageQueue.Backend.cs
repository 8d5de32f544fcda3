namespace Gateway.Broker.Queues;

// The embedded queue as an IBrokerQueue; GetAsync, AckAsync, NackAsync, RejectAsync, PurgeAsync and RequireAccess are
// the queue's own methods.
public sealed partial class MessageQueue : IBrokerQueue
{
    string IBrokerQueue.Vhost => VirtualHost.Name;

    ulong IBrokerQueue.StableId => DurableId != 0 ? (ulong)DurableId : Incarnation;

    /// <summary>Its counts, rates and totals now.</summary>
    public QueueStatus Status()
    {
        var s = Statistics;
        return new(MessagesReady, MessagesUnacknowledged, MessagesDelayed, ConsumerCount, MessageBytesReady, OldestReadyAge, s.Rates,
            new QueueCounters(s.Published, s.Delivered, s.Acknowledged, s.Redelivered, s.DeadLettered));
    }

    ValueTask<QueueStatus> IBrokerQueue.GetStatusAsync(CancellationToken cancellationToken) => new(Status());

    ValueTask<IBrokerSubscription> IBrokerQueue.SubscribeAsync(int prefetch, CancellationToken cancellationToken) => new(Subscribe(prefetch));

    ValueTask<IBrokerSubscription> IBrokerQueue.SubscribeExclusiveAsync(int prefetch, CancellationToken cancellationToken) => new(SubscribeExclusive(prefetch));

    ValueTask IBrokerQueue.ExtendLeasesAsync(IReadOnlyCollection<DeliveryTag> tags, TimeSpan lease)
    {
        ExtendLeases(tags, lease);
        return default;
    }
}

// The embedded consumer as an IBrokerSubscription.
public sealed partial class QueueConsumer : IBrokerSubscription
{
    IBrokerQueue IBrokerSubscription.Queue => Queue;

    ValueTask IBrokerSubscription.CancelAsync()
    {
        if (Queue.Cancel(this)) Queue.VirtualHost.DeleteIfUnused(Queue);
        return default;
    }

    ValueTask IBrokerSubscription.StopAsync()
    {
        Queue.Cancel(this);
        return default;
    }
}
