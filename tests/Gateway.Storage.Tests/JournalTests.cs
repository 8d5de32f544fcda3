using Gateway.Broker.Durability;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using static Gateway.Storage.Tests.TestMessages;
using static Gateway.Storage.Tests.TestTopology;

namespace Gateway.Storage.Tests;

/// <summary>The message journal as the engine drives it: what reaches the file, and when it leaves it.</summary>
public sealed class JournalTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task A_message_routed_to_three_durable_queues_is_stored_once_with_three_entries()
    {
        await using var temp = new TempStore(SynchronousMode.Full);
        var vhost = temp.Broker().GetVhost("default")!;
        DeclareFanout(vhost, "fan", "a", "b", "c");

        var outcome = await vhost.PublishAsync("fan", Text("hello", ""));

        Assert.Equal(3, outcome.Queues);
        Assert.Equal(1, temp.Count("messages"));
        Assert.Equal(3, temp.Count("queue_messages"));
        Assert.Equal(1, temp.Scalar("SELECT COUNT(DISTINCT message_id) FROM queue_messages"));
        Assert.Equal(3, temp.Scalar("SELECT COUNT(DISTINCT queue_id) FROM queue_messages"));
    }

    [Fact]
    public async Task A_pull_answers_only_once_its_delivery_marks_are_on_disk()
    {
        await using var temp = new TempStore(SynchronousMode.Full);
        var vhost = temp.Broker().GetVhost("default")!;
        var queue = vhost.DeclareQueue(new QueueDefinition("q")).Queue;
        for (var i = 0; i < 50; i++) await vhost.PublishAsync("", Text($"m{i}"));

        // A crash right after the answer must bring these back redelivered: their marks are committed by then.
        var pulled = await queue.GetAsync(50, TimeSpan.Zero, Lease, CancellationToken.None);

        Assert.Equal(50, pulled.Count);
        Assert.Equal(50, temp.Count("queue_messages", "delivery_count = 1"));
    }

    [Fact]
    public async Task A_subscription_sees_a_persistent_delivery_only_once_its_mark_is_on_disk()
    {
        await using var temp = new TempStore(SynchronousMode.Full);
        var vhost = temp.Broker().GetVhost("default")!;
        var queue = vhost.DeclareQueue(new QueueDefinition("q")).Queue;
        for (var i = 0; i < 100; i++) await vhost.PublishAsync("", Text($"m{i}"));

        // Subscribing hands all 100 over at once (their marks are enqueued then). Each is pushed to a WebSocket, an
        // event stream, a webhook or an AMQP consumer the moment it is read: a crash after that must bring it back
        // redelivered, so each one read has its mark committed already.
        var consumer = queue.Subscribe(100);
        for (var i = 0; i < 100; i++)
        {
            Assert.True(await consumer.Deliveries.WaitToReadAsync());
            Assert.True(consumer.Deliveries.TryRead(out var delivery));
            Assert.Equal($"m{i}", delivery.Message.Text());
            Assert.Equal(1, temp.Scalar($"SELECT delivery_count FROM queue_messages WHERE sequence = {delivery.Sequence}"));
        }
    }

    [Fact]
    public async Task A_long_poll_answers_only_once_the_delivery_mark_of_what_arrived_is_on_disk()
    {
        await using var temp = new TempStore(SynchronousMode.Full);
        var vhost = temp.Broker().GetVhost("default")!;
        var queue = vhost.DeclareQueue(new QueueDefinition("q")).Queue;

        var poll = queue.GetAsync(1, TimeSpan.FromSeconds(30), Lease, CancellationToken.None).AsTask();
        await vhost.PublishAsync("", Text("late"));
        var pulled = await poll;

        Assert.Single(pulled);
        Assert.Equal(1, temp.Count("queue_messages", "delivery_count = 1"));
    }

    [Fact]
    public async Task A_shared_message_leaves_the_file_once_acked_in_all_its_queues()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var queues = DeclareFanout(vhost, "fan", "a", "b", "c");
        await vhost.PublishAsync("fan", Text("hello", ""));

        var remaining = new List<long>();
        foreach (var queue in queues)
        {
            await queue.AckAsync([Assert.Single(queue.Take(1, Lease)).Tag]);
            remaining.Add(temp.Count("messages"));
        }

        Assert.Equal([1, 1, 0], remaining);
        Assert.Equal(0, temp.Count("queue_messages"));
    }

    [Fact]
    public async Task An_ack_that_arrives_before_the_insert_committed_cancels_it_out()
    {
        const int count = 2_000;
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var queue = vhost.DeclareQueue(new QueueDefinition("q")).Queue;

        var pending = new List<Task>();
        for (var i = 0; i < count; i++)
        {
            pending.Add(vhost.PublishAsync("", Text($"m{i}")).AsTask());
            pending.Add(queue.AckAsync([Assert.Single(queue.Take(1, Lease)).Tag]));
        }
        await Task.WhenAll(pending);

        Assert.Equal(0, temp.Count("messages"));
        Assert.Equal(0, temp.Count("queue_messages"));
        // A message published afterwards is written (one inline entry, no messages row: it is in one queue).
        var probe = Text("probe");
        await vhost.PublishAsync("", probe);
        Assert.Equal(1, temp.Count("queue_messages"));
        Assert.Equal(0, temp.Count("messages"));

        await queue.AckAsync([Assert.Single(queue.Take(1, Lease)).Tag]);
        await temp.RestartAsync();
        temp.Broker(out var recovered);
        Assert.Equal(0, recovered.Messages);
    }

    [Fact]
    public async Task A_shared_message_acked_in_all_its_queues_before_its_insert_committed_is_never_written()
    {
        const int count = 1_000;
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var queues = DeclareFanout(vhost, "fan", "a", "b");

        var pending = new List<Task>();
        for (var i = 0; i < count; i++)
        {
            pending.Add(vhost.PublishAsync("fan", Text($"m{i}", "")).AsTask());
            foreach (var queue in queues) pending.Add(queue.AckAsync([Assert.Single(queue.Take(1, Lease)).Tag]));
        }
        await Task.WhenAll(pending);

        Assert.Equal(0, temp.Count("messages"));
        Assert.Equal(0, temp.Count("queue_messages"));
        await temp.RestartAsync();
        temp.Broker(out var recovered);
        Assert.Equal(0, recovered.Messages);
    }

    [Fact]
    public async Task Purging_a_durable_queue_removes_its_ready_rows_and_keeps_the_unacked_ones()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var queue = vhost.DeclareQueue(new QueueDefinition("q")).Queue;
        for (var i = 0; i < 10; i++) await vhost.PublishAsync("", Text($"m{i}"));
        var unacked = queue.Take(3, Lease);

        Assert.Equal(7, await queue.PurgeAsync());

        Assert.Equal(3, temp.Count("queue_messages"));
        Assert.Equal(0, temp.Count("messages")); // single-queue messages are inline in their entries
        await temp.RestartAsync();
        var again = temp.Broker().GetVhost("default")!.GetQueue("q")!;
        var after = again.Take(10, Lease);
        Assert.Equal(unacked.Select(d => d.Message.Text()), after.Select(d => d.Message.Text()));
        Assert.All(after, d => Assert.True(d.Redelivered));
    }

    [Fact]
    public async Task Deleting_a_durable_queue_removes_its_rows_and_no_other()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("doomed"));
        vhost.DeclareQueue(new QueueDefinition("kept"));
        for (var i = 0; i < 5; i++) await vhost.PublishAsync("", Text($"d{i}", "doomed"));
        for (var i = 0; i < 2; i++) await vhost.PublishAsync("", Text($"k{i}", "kept"));

        Assert.Equal(5, vhost.DeleteQueue("doomed"));
        await temp.RestartAsync();

        var again = temp.Broker(out var recovered).GetVhost("default")!;
        Assert.Equal(2, recovered.Messages);
        Assert.Null(again.GetQueue("doomed"));
        Assert.Equal(0, temp.Count("queues", "Name = 'doomed'"));
        Assert.Equal(2, temp.Count("queue_messages"));
        Assert.Equal(0, temp.Count("messages")); // single-queue messages are inline in their entries
        Assert.Equal(["k0", "k1"], again.GetQueue("kept")!.Take(10, Lease).Select(d => d.Message.Text()));
    }

    [Fact]
    public async Task Transient_messages_and_non_durable_queues_are_never_written()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("durable"));
        vhost.DeclareQueue(new QueueDefinition("memory", Durable: false));

        await vhost.PublishAsync("", Text("mode 1", "durable", new MessageProperties { DeliveryMode = 1 }));
        await vhost.PublishAsync("", Text("unset", "durable", MessageProperties.Empty));
        await vhost.PublishAsync("", Text("unset with properties", "durable", new MessageProperties { ContentType = "text/plain" }));
        await vhost.PublishAsync("", Text("persistent", "memory"));
        await temp.FlushAsync();

        Assert.Equal(0, temp.Count("messages"));
        Assert.Equal(0, temp.Count("queue_messages"));
        await temp.RestartAsync();
        var again = temp.Broker(out var recovered).GetVhost("default")!;
        Assert.Equal(0, recovered.Messages);
        Assert.Equal(0, again.GetQueue("durable")!.MessagesReady);
        Assert.Null(again.GetQueue("memory"));
    }

    [Fact]
    public async Task A_nack_without_requeue_removes_the_row()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var queue = vhost.DeclareQueue(new QueueDefinition("q")).Queue;
        await vhost.PublishAsync("", Text("m"));

        await queue.NackAsync([Assert.Single(queue.Take(1, Lease)).Tag], requeue: false);

        Assert.Equal(0, temp.Count("queue_messages"));
        Assert.Equal(0, temp.Count("messages"));
    }

    [Fact]
    public async Task A_nack_with_requeue_keeps_the_row()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var queue = vhost.DeclareQueue(new QueueDefinition("q")).Queue;
        await vhost.PublishAsync("", Text("m"));

        await queue.NackAsync([Assert.Single(queue.Take(1, Lease)).Tag], requeue: true);
        await temp.FlushAsync();

        Assert.Equal(1, temp.Count("queue_messages"));
        Assert.Equal(0, temp.Count("messages")); // a single-queue message is inline in its entry
        await temp.RestartAsync();
        var again = temp.Broker().GetVhost("default")!.GetQueue("q")!;
        Assert.Equal("m", Assert.Single(again.Take(10, Lease)).Message.Text());
    }

    [Fact]
    public async Task Concurrent_publishes_share_commits_and_all_recover()
    {
        const int count = 10_000;
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("q"));
        var batchesBefore = temp.Store.JournalBatches;

        await Task.WhenAll(Enumerable.Range(0, count).Select(i => vhost.PublishAsync("", Text($"m{i}")).AsTask()));

        var batches = temp.Store.JournalBatches - batchesBefore;
        Assert.InRange(batches, 1, count / 20);
        await temp.RestartAsync();
        var again = temp.Broker(out var recovered).GetVhost("default")!;
        Assert.Equal(count, recovered.Messages);
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"m{i}"), again.GetQueue("q")!.Take(count, Lease).Select(d => d.Message.Text()));
    }

    [Fact]
    public async Task The_delivery_count_survives_a_restart()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var queue = vhost.DeclareQueue(new QueueDefinition("q")).Queue;
        await vhost.PublishAsync("", Text("m"));
        for (var i = 0; i < 2; i++)
            await queue.NackAsync([Assert.Single(queue.Take(1, Lease)).Tag], requeue: true);
        await temp.RestartAsync();

        var again = temp.Broker().GetVhost("default")!.GetQueue("q")!;
        var delivery = Assert.Single(again.Take(1, Lease));

        Assert.Equal(3, delivery.DeliveryCount);
        Assert.True(delivery.Redelivered);
    }

    [Fact]
    public async Task A_confirm_fails_when_any_of_its_writes_failed_even_if_later_ones_commit()
    {
        await using var temp = TempStore.Lockable();
        var journal = temp.Store.Journal;
        var ticket = new JournalTicket();
        using (new WriteLock(temp))
        {
            ticket.Add();
            journal.Insert(Text("first"), queueId: 77, sequence: 1, expiresAt: 0, notBefore: 0, ticket);
            // The writer commits in order: once a write enqueued later has failed, the first one has been tried too.
            await Assert.ThrowsAsync<StorageException>(temp.FlushAsync);
        }
        ticket.Add();
        journal.Insert(Text("second"), queueId: 77, sequence: 2, expiresAt: 0, notBefore: 0, ticket);
        ticket.Release();

        await Assert.ThrowsAsync<StorageException>(() => ticket.Committed);
        await temp.FlushAsync();
        Assert.Equal(1, temp.Count("queue_messages", "queue_id = 77"));
    }
}
