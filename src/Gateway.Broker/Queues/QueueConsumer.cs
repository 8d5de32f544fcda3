using System.Threading.Channels;
using Gateway.Broker.Durability;

namespace Gateway.Broker.Queues;

/// <summary>Why a subscription ended.</summary>
public enum ConsumerEndReason
{
    /// <summary>Still active.</summary>
    None,
    /// <summary>The client cancelled it (or its connection closed).</summary>
    Cancelled,
    /// <summary>The queue was deleted.</summary>
    QueueDeleted,
    /// <summary>The backend went away (e.g. the RabbitMQ node holding it); the client may subscribe again once it is back.</summary>
    BackendUnavailable,
}

/// <summary>
/// A subscription on a queue: it receives deliveries round-robin with the queue's other consumers while it has
/// fewer than <see cref="Prefetch"/> unacknowledged. Its outbound buffer is bounded by the prefetch: the queue never
/// hands it more than it may hold, so a slow reader makes the queue keep messages, not the consumer.
/// </summary>
public sealed partial class QueueConsumer
{
    internal readonly Channel<Delivery> Channel;
    internal int InFlight;

    internal QueueConsumer(MessageQueue queue, int prefetch, TimeSpan? lease, bool isPull)
    {
        Queue = queue;
        Prefetch = prefetch;
        Lease = lease;
        IsPull = isPull;
        Channel = System.Threading.Channels.Channel.CreateBounded<Delivery>(
            new BoundedChannelOptions(prefetch) { SingleReader = true, SingleWriter = false, FullMode = BoundedChannelFullMode.Wait });
        Deliveries = !isPull && queue.Journal is { } journal ? new DurableDeliveries(Channel.Reader, journal) : Channel.Reader;
    }

    /// <summary>The queue subscribed to.</summary>
    public MessageQueue Queue { get; }
    /// <summary>The most unacknowledged deliveries it may hold.</summary>
    public int Prefetch { get; }
    /// <summary>When set, its deliveries return to the queue if not acknowledged within this time.</summary>
    public TimeSpan? Lease { get; }
    /// <summary>True for the short-lived consumer behind a long-poll; not counted as a consumer of the queue.</summary>
    public bool IsPull { get; }
    /// <summary>Why it ended, once it has.</summary>
    public ConsumerEndReason EndReason { get; internal set; }
    /// <summary>
    /// Its deliveries, in order. Completes when the subscription ends. On a durable queue a persistent message is
    /// readable only once its delivery mark is on disk, so that a crash after the client saw it brings it back
    /// redelivered (DESIGN.md's contract), as a pull answers only then.
    /// </summary>
    public ChannelReader<Delivery> Deliveries { get; }

    /// <summary>
    /// The deliveries of a subscription on a durable queue: a delivery whose mark is still in the journal's queue
    /// (<see cref="Delivery.MarkPending"/>) is held until a barrier behind it has committed. One barrier covers every
    /// delivery buffered when it was issued (their marks were enqueued before they were buffered, and the journal
    /// commits in order), so a burst costs one wait, which usually rides in the commit of the acks that made room for
    /// it. A failed commit releases them all the same: the marks' only use is the redelivered flag after a crash, and
    /// the failure shows in the journal's health (the pull does the same).
    /// </summary>
    private sealed class DurableDeliveries(ChannelReader<Delivery> inner, IMessageJournal journal) : ChannelReader<Delivery>
    {
        // How many deliveries at the head of the buffer are known to have their marks on disk (only the reader moves it).
        private int _durable;

        public override Task Completion => inner.Completion;

        public override bool CanCount => true;

        public override int Count => inner.Count;

        public override bool TryRead(out Delivery item)
        {
            if (_durable == 0 && (!inner.TryPeek(out var head) || head.MarkPending))
            {
                item = default;
                return false;
            }
            if (!inner.TryRead(out item)) return false;
            if (_durable > 0) _durable--;
            return true;
        }

        public override bool CanPeek => true;

        public override bool TryPeek(out Delivery item)
        {
            if (inner.TryPeek(out item) && (_durable > 0 || !item.MarkPending)) return true;
            item = default;
            return false;
        }

        public override async ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default)
        {
            if (!await inner.WaitToReadAsync(cancellationToken).ConfigureAwait(false)) return false;
            if (_durable > 0 || (inner.TryPeek(out var head) && !head.MarkPending)) return true;
            var buffered = inner.Count;
            try
            {
                await journal.Barrier().WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (StorageException)
            {
                // See above: released all the same.
            }
            _durable = Math.Max(_durable, buffered);
            return true;
        }
    }
}
