using Gateway.Broker.Durability;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;

namespace Gateway.Broker.Tests;

/// <summary>
/// DESIGN.md: deliveries unacked at a crash come back redelivered. A subscription (WebSocket, SSE, webhook, AMQP
/// consumer) therefore sees a persistent message of a durable queue only once the journal has committed its delivery
/// mark; here the journal commits only when the test says so.
/// </summary>
public sealed class DurableDeliveryTests
{
    private static readonly MessageProperties Persistent = new() { DeliveryMode = 2 };

    private static (MessageBroker Broker, VirtualHost Vhost, HeldJournal Journal) Start()
    {
        var store = new HeldStore();
        var broker = new MessageBroker(new BrokerOptions { LeaseScanInterval = null, AutomaticTimers = false, StatisticsInterval = null }, store);
        broker.Recover();
        return (broker, broker.Default(), store.Held);
    }

    private static Message Text(string body, MessageProperties? properties = null) =>
        new("", "q", properties ?? Persistent, System.Text.Encoding.UTF8.GetBytes(body));

    [Fact]
    public async Task A_persistent_delivery_is_readable_only_once_its_mark_has_committed()
    {
        var (_, vhost, journal) = Start();
        var consumer = vhost.Queue("q").Subscribe(10);
        await vhost.PublishAsync("", Text("m"));

        Assert.False(consumer.Deliveries.TryRead(out _));
        Assert.False(consumer.Deliveries.TryPeek(out _));
        var wait = consumer.Deliveries.WaitToReadAsync().AsTask();
        await journal.WaitForBarrierAsync();
        Assert.False(wait.IsCompleted);
        Assert.Equal(1, journal.Marks);

        journal.CommitAll();

        Assert.True(await wait.WaitAsync(Fx.Safety));
        Assert.True(consumer.Deliveries.TryRead(out var delivery));
        Assert.Equal("m", delivery.Text());
    }

    [Fact]
    public async Task One_commit_releases_every_delivery_buffered_before_it_in_order()
    {
        var (_, vhost, journal) = Start();
        var consumer = vhost.Queue("q").Subscribe(10);
        for (var i = 0; i < 5; i++) await vhost.PublishAsync("", Text($"m{i}"));

        var wait = consumer.Deliveries.WaitToReadAsync().AsTask();
        await journal.WaitForBarrierAsync();
        journal.CommitAll();
        Assert.True(await wait.WaitAsync(Fx.Safety));

        var read = new List<string>();
        while (consumer.Deliveries.TryRead(out var delivery)) read.Add(delivery.Text());
        Assert.Equal(["m0", "m1", "m2", "m3", "m4"], read);
        Assert.Equal(1, journal.Barriers);
    }

    [Fact]
    public async Task A_transient_message_is_not_held_but_keeps_its_place_behind_a_persistent_one()
    {
        var (_, vhost, journal) = Start();
        var consumer = vhost.Queue("q").Subscribe(10);
        await vhost.PublishAsync("", Text("transient", MessageProperties.Empty));
        await vhost.PublishAsync("", Text("persistent"));
        await vhost.PublishAsync("", Text("transient again", MessageProperties.Empty));

        Assert.True(consumer.Deliveries.TryRead(out var first));
        Assert.Equal("transient", first.Text());
        Assert.False(consumer.Deliveries.TryRead(out _));   // the persistent one is next: everything waits behind it

        var wait = consumer.Deliveries.WaitToReadAsync().AsTask();
        await journal.WaitForBarrierAsync();
        journal.CommitAll();
        Assert.True(await wait.WaitAsync(Fx.Safety));
        Assert.True(consumer.Deliveries.TryRead(out var second));
        Assert.True(consumer.Deliveries.TryRead(out var third));
        Assert.Equal(["persistent", "transient again"], new[] { second.Text(), third.Text() });
    }

    [Fact]
    public async Task A_failed_commit_releases_the_deliveries_all_the_same()
    {
        var (_, vhost, journal) = Start();
        var consumer = vhost.Queue("q").Subscribe(10);
        await vhost.PublishAsync("", Text("m"));

        var wait = consumer.Deliveries.WaitToReadAsync().AsTask();
        await journal.WaitForBarrierAsync();
        journal.FailAll();

        Assert.True(await wait.WaitAsync(Fx.Safety));
        Assert.True(consumer.Deliveries.TryRead(out var delivery));
        Assert.Equal("m", delivery.Text());
    }

    [Fact]
    public async Task A_queue_kept_in_memory_and_a_pull_are_not_held()
    {
        var (_, vhost, journal) = Start();
        var memory = vhost.DeclareQueue(new QueueDefinition("memory", Durable: false)).Queue;
        var consumer = memory.Subscribe(10);
        await vhost.PublishAsync("", new Message("", "memory", Persistent, "m"u8.ToArray()));
        Assert.True(consumer.Deliveries.TryRead(out _));
        Assert.Equal(0, journal.Barriers);

        // A pull waits for the marks itself, before it answers (not through a subscription's buffer).
        var queue = vhost.Queue("q");
        await vhost.PublishAsync("", Text("pulled"));
        var pull = queue.GetAsync(1, TimeSpan.Zero, Fx.Lease, CancellationToken.None).AsTask();
        await journal.WaitForBarrierAsync();
        Assert.False(pull.IsCompleted);
        journal.CommitAll();
        Assert.Equal("pulled", Assert.Single(await pull.WaitAsync(Fx.Safety)).Text());
        Assert.Equal(1, journal.Barriers);
    }

    [Fact]
    public async Task Cancelling_the_wait_leaves_the_delivery_for_the_next_read()
    {
        var (_, vhost, journal) = Start();
        var consumer = vhost.Queue("q").Subscribe(10);
        await vhost.PublishAsync("", Text("m"));

        using var cts = new CancellationTokenSource();
        var wait = consumer.Deliveries.WaitToReadAsync(cts.Token).AsTask();
        await journal.WaitForBarrierAsync();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        Assert.False(consumer.Deliveries.TryRead(out _));

        var again = consumer.Deliveries.WaitToReadAsync().AsTask();
        await journal.WaitForBarrierAsync();
        journal.CommitAll();
        Assert.True(await again.WaitAsync(Fx.Safety));
        Assert.True(consumer.Deliveries.TryRead(out var delivery));
        Assert.Equal("m", delivery.Text());
    }

    /// <summary>A store that keeps nothing, with a journal whose commits the test releases.</summary>
    private sealed class HeldStore : IBrokerStore
    {
        public HeldJournal Held { get; } = new();
        public IMessageJournal Journal => Held;
        public void Apply(IReadOnlyList<TopologyChange> changes) { }
        public DurableTopology LoadTopology() => new([], [], [], []);
        public IEnumerable<RecoveredEntry> ReadMessages() => [];
        public int RemoveOrphans(IReadOnlyCollection<long> orphanQueueIds) => 0;
        public void SaveWebhook(StoredWebhook webhook) { }
        public void DeleteWebhook(string vhost, string queue, string name) { }
        public IReadOnlyList<StoredWebhook> LoadWebhooks() => [];
    }

    /// <summary>
    /// Publishes commit at once (their tickets are released); delivery marks are counted; barriers wait for
    /// <see cref="CommitAll"/> or <see cref="FailAll"/>.
    /// </summary>
    private sealed class HeldJournal : IMessageJournal
    {
        private readonly List<TaskCompletionSource> _barriers = [];
        private readonly SemaphoreSlim _issued = new(0);

        public int Marks { get; private set; }
        public int Barriers { get; private set; }

        public void Insert(Message message, long queueId, long sequence, long expiresAt, long notBefore, JournalTicket? ticket) => ticket?.Release();
        public void Delay(long queueId, long sequence, long notBefore) { }
        public void BeginAtomic() { }
        public void EndAtomic() { }
        public void Delivered(long queueId, long sequence, int deliveryCount) => Marks++;
        public void Remove(Message message, long queueId, long sequence, bool lastReference, JournalTicket? ticket) => ticket?.Release();

        public Task Barrier()
        {
            var barrier = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_barriers)
            {
                _barriers.Add(barrier);
                Barriers++;
            }
            _issued.Release();
            return barrier.Task;
        }

        /// <summary>Waits until a reader issued a barrier (a safety-net deadline, never a timing assumption).</summary>
        public async Task WaitForBarrierAsync()
        {
            Assert.True(await _issued.WaitAsync(Fx.Safety), "no barrier was issued");
        }

        public void CommitAll() => Settle(b => b.TrySetResult());

        public void FailAll() => Settle(b => b.TrySetException(new StorageException("disk full")));

        private void Settle(Action<TaskCompletionSource> settle)
        {
            List<TaskCompletionSource> due;
            lock (_barriers)
            {
                due = [.. _barriers];
                _barriers.Clear();
            }
            foreach (var barrier in due) settle(barrier);
        }
    }
}
