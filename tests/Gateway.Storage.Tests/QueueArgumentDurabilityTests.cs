using System.Text;
using Gateway.Broker.Durability;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using Microsoft.Extensions.Time.Testing;
using static Gateway.Storage.Tests.TestMessages;

namespace Gateway.Storage.Tests;

/// <summary>
/// Queue arguments across restarts (issue 5, item 10), on a real SQLite file and a fake clock: the journal keeps each
/// entry's expiry and not-before times, durable queues keep their arguments (TTL, limits, priorities, dead-letter
/// target), and a dead-lettering move is one journal transaction, so a message is in exactly one queue whatever
/// moment the process dies at.
/// </summary>
public sealed class QueueArgumentDurabilityTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static Dictionary<string, object?> Args(params (string Key, object? Value)[] entries) =>
        entries.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);

    private static MessageProperties Persistent(string? expiration = null, long? delay = null, byte? priority = null) => new()
    {
        DeliveryMode = 2,
        Expiration = expiration,
        Priority = priority,
        Headers = delay is { } d ? Args(("x-delay", d)) : null,
    };

    private static IReadOnlyList<object?> Deaths(Message message) =>
        Assert.IsAssignableFrom<IReadOnlyList<object?>>(message.Properties.Headers?.GetValueOrDefault("x-death"));

    private static IReadOnlyDictionary<string, object?> Table(object? value) => Assert.IsAssignableFrom<IReadOnlyDictionary<string, object?>>(value);

    /// <summary>A durable "work" queue dead-lettering through the default exchange to a durable "dead" queue.</summary>
    private static (MessageQueue Work, MessageQueue Dead) DeadLetterPair(VirtualHost vhost, params (string Key, object? Value)[] workArguments)
    {
        var dead = vhost.DeclareQueue(new QueueDefinition("dead")).Queue;
        var arguments = Args([("x-dead-letter-exchange", ""), ("x-dead-letter-routing-key", "dead"), .. workArguments]);
        var work = vhost.DeclareQueue(new QueueDefinition("work", Arguments: arguments)).Queue;
        return (work, dead);
    }

    // ------------------------------------------------------------------ queue expiry

    [Fact]
    public async Task An_expired_queue_whose_deletion_cannot_be_stored_stays_and_goes_once_the_store_recovers()
    {
        await using var temp = TempStore.Lockable();
        var clock = new FakeTimeProvider(Start);
        var broker = temp.Broker(clock);
        var vhost = broker.GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("q", Arguments: new Dictionary<string, object?> { ["x-expires"] = 1000L }));

        using (new WriteLock(temp))
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            broker.RunDueTimers(); // the timer's thread: a storage failure must not escape it
            Assert.NotNull(vhost.GetQueue("q"));
        }

        clock.Advance(TimeSpan.FromSeconds(1));
        broker.RunDueTimers();
        Assert.Null(vhost.GetQueue("q"));
        Assert.Equal(0, temp.Count("queues"));
    }

    // ------------------------------------------------------------------ delays

    [Fact]
    public async Task A_delayed_persistent_message_is_still_delayed_after_a_restart_and_becomes_ready_when_due()
    {
        await using var temp = new TempStore();
        var clock = new FakeTimeProvider(Start);
        var vhost = temp.Broker(clock).GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("q"));
        await vhost.PublishAsync("", Text("later", "q", Persistent(delay: 60_000)));
        await temp.RestartAsync();

        clock.Advance(TimeSpan.FromSeconds(10));
        var broker = temp.Broker(clock);
        var q = broker.GetVhost("default")!.GetQueue("q")!;

        Assert.Equal((1, 0), (q.MessagesDelayed, q.MessagesReady));
        Assert.Equal(Start.AddSeconds(60).UtcTicks, temp.Scalar("SELECT not_before FROM queue_messages"));
        Assert.Empty(q.Take(10, Lease));

        clock.Advance(TimeSpan.FromSeconds(49));
        broker.RunDueTimers();
        Assert.Equal(1, q.MessagesDelayed);

        clock.Advance(TimeSpan.FromSeconds(1));
        broker.RunDueTimers();
        Assert.Equal((0, 1), (q.MessagesDelayed, q.MessagesReady));
        Assert.Equal(["later"], q.Take(10, Lease).Select(d => d.Message.Text()));
    }

    [Fact]
    public async Task A_message_nacked_with_a_delay_is_still_delayed_after_a_restart()
    {
        await using var temp = new TempStore();
        var clock = new FakeTimeProvider(Start);
        var vhost = temp.Broker(clock).GetVhost("default")!;
        var q = vhost.DeclareQueue(new QueueDefinition("q")).Queue;
        await vhost.PublishAsync("", Text("retry", "q", Persistent()));
        await q.NackAsync([Assert.Single(q.Take(1, Lease)).Tag], requeue: true, delay: TimeSpan.FromSeconds(30));
        await temp.RestartAsync();

        clock.Advance(TimeSpan.FromSeconds(5));
        var broker = temp.Broker(clock);
        var again = broker.GetVhost("default")!.GetQueue("q")!;
        Assert.Equal((1, 0), (again.MessagesDelayed, again.MessagesReady));

        clock.Advance(TimeSpan.FromSeconds(25));
        broker.RunDueTimers();
        var redelivered = Assert.Single(again.Take(10, Lease));
        Assert.Equal(("retry", true, 2), (redelivered.Message.Text(), redelivered.Redelivered, redelivered.DeliveryCount));
    }

    [Fact]
    public async Task A_delayed_message_that_fell_due_while_the_server_was_down_is_ready_at_start()
    {
        await using var temp = new TempStore();
        var clock = new FakeTimeProvider(Start);
        var vhost = temp.Broker(clock).GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("q"));
        await vhost.PublishAsync("", Text("due", "q", Persistent(delay: 1_000)));
        await temp.RestartAsync();

        clock.Advance(TimeSpan.FromMinutes(1));
        var q = temp.Broker(clock).GetVhost("default")!.GetQueue("q")!;

        Assert.Equal((0, 1), (q.MessagesDelayed, q.MessagesReady));
    }

    [Fact]
    public async Task Delayed_messages_that_fell_due_while_down_join_the_queue_after_its_ready_messages_once_recovery_is_complete()
    {
        // Recovered on the system clock with its timers running: the messages were due long ago, so a timer that woke
        // the queue while recovery was still filling it would make some ready in the middle (and race the filling).
        const int pairs = 5_000;
        await using var temp = new TempStore();
        var vhost = temp.Broker(new FakeTimeProvider(new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero))).GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("q"));
        var ticket = new JournalTicket();
        for (var i = 0; i < pairs; i++)
        {
            vhost.PublishUnconfirmed("", Text($"d{i}", "q", Persistent(delay: 1_000)), ticket);
            vhost.PublishUnconfirmed("", Text($"r{i}", "q", Persistent()), ticket);
        }
        ticket.Release();
        await ticket.Committed;
        await temp.RestartAsync();

        var q = temp.Broker().GetVhost("default")!.GetQueue("q")!;

        Assert.Equal((0, 2 * pairs), (q.MessagesDelayed, q.MessagesReady));
        var expected = Enumerable.Range(0, pairs).Select(i => $"r{i}").Concat(Enumerable.Range(0, pairs).Select(i => $"d{i}"));
        Assert.Equal(expected, q.Take(2 * pairs, Lease).Select(d => d.Message.Text()));
    }

    // ------------------------------------------------------------------ TTL and dead-letter targets

    [Fact]
    public async Task A_message_whose_ttl_passed_while_the_server_was_down_is_dead_lettered_at_start_and_the_move_is_stored()
    {
        await using var temp = new TempStore();
        var clock = new FakeTimeProvider(Start);
        var vhost = temp.Broker(clock).GetVhost("default")!;
        DeadLetterPair(vhost, ("x-message-ttl", 60_000L));
        await vhost.PublishAsync("", Text("stale", "work", Persistent()));
        await temp.RestartAsync();

        clock.Advance(TimeSpan.FromMinutes(2));
        var started = temp.Broker(clock).GetVhost("default")!;
        Assert.Equal(0, started.GetQueue("work")!.MessagesReady);
        Assert.Equal(1, started.GetQueue("dead")!.MessagesReady);
        await temp.FlushAsync();
        await temp.RestartAsync();

        // Stored: after another restart the message is in the dead-letter queue only, with its x-death.
        var again = temp.Broker(clock).GetVhost("default")!;
        Assert.Equal(0, again.GetQueue("work")!.MessagesReady);
        var dead = Assert.Single(again.GetQueue("dead")!.Take(10, Lease));
        Assert.Equal(("stale", "dead"), (dead.Message.Text(), dead.Message.RoutingKey));
        var death = Table(Assert.Single(Deaths(dead.Message)));
        Assert.Equal("work", death["queue"]);
        Assert.Equal("expired", death["reason"]);
        Assert.Equal(1L, death["count"]);
        Assert.Equal(Start.AddMinutes(2).ToUnixTimeSeconds(), death["time"]);
        Assert.Equal(new object?[] { "work" }, Assert.IsAssignableFrom<IReadOnlyList<object?>>(death["routing-keys"]));
        Assert.Equal(1, temp.Count("queue_messages"));
    }

    [Fact]
    public async Task A_message_expiration_that_passed_while_the_server_was_down_expires_at_start()
    {
        await using var temp = new TempStore();
        var clock = new FakeTimeProvider(Start);
        var vhost = temp.Broker(clock).GetVhost("default")!;
        DeadLetterPair(vhost);
        await vhost.PublishAsync("", Text("stale", "work", Persistent(expiration: "1000")));
        await vhost.PublishAsync("", Text("fresh", "work", Persistent()));
        await temp.RestartAsync();

        clock.Advance(TimeSpan.FromSeconds(2));
        var started = temp.Broker(clock).GetVhost("default")!;

        Assert.Equal(["fresh"], started.GetQueue("work")!.Take(10, Lease).Select(d => d.Message.Text()));
        var dead = Assert.Single(started.GetQueue("dead")!.Take(10, Lease));
        Assert.Equal("1000", Table(Assert.Single(Deaths(dead.Message)))["original-expiration"]);
    }

    [Fact]
    public async Task A_ttl_keeps_its_original_deadline_across_a_restart()
    {
        await using var temp = new TempStore();
        var clock = new FakeTimeProvider(Start);
        var vhost = temp.Broker(clock).GetVhost("default")!;
        DeadLetterPair(vhost, ("x-message-ttl", 60_000L));
        await vhost.PublishAsync("", Text("m", "work", Persistent()));
        await temp.RestartAsync();

        clock.Advance(TimeSpan.FromSeconds(30));
        var broker = temp.Broker(clock);
        var vhostAgain = broker.GetVhost("default")!;
        var work = vhostAgain.GetQueue("work")!;
        Assert.Equal(1, work.MessagesReady);

        clock.Advance(TimeSpan.FromSeconds(29));
        broker.RunDueTimers();
        Assert.Equal(1, work.MessagesReady);

        // 60 s after the publish, not 60 s after the restart.
        clock.Advance(TimeSpan.FromSeconds(2));
        broker.RunDueTimers();
        Assert.Equal(0, work.MessagesReady);
        Assert.Equal(1, vhostAgain.GetQueue("dead")!.MessagesReady);
    }

    [Fact]
    public async Task Priorities_and_reject_publish_limits_survive_a_restart()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("ranked", Arguments: Args(("x-max-priority", 10L))));
        vhost.DeclareQueue(new QueueDefinition("bounded", Arguments: Args(("x-max-length", 1L), ("x-overflow", "reject-publish"))));
        foreach (var (priority, text) in new (byte, string)[] { (1, "low"), (9, "high"), (1, "low-2") })
            await vhost.PublishAsync("", Text(text, "ranked", Persistent(priority: priority)));
        await vhost.PublishAsync("", Text("first", "bounded", Persistent()));
        await temp.RestartAsync();

        var again = temp.Broker().GetVhost("default")!;
        var refused = await again.PublishAsync("", Text("second", "bounded", Persistent()));

        Assert.Equal(["high", "low", "low-2"], again.GetQueue("ranked")!.Take(10, Lease).Select(d => d.Message.Text()));
        Assert.Equal((0, 1), (refused.Queues, refused.Rejected));
        Assert.Equal(["first"], again.GetQueue("bounded")!.Take(10, Lease).Select(d => d.Message.Text()));
    }

    // ------------------------------------------------------------------ dead-lettering moves are atomic

    [Fact]
    public async Task Every_committed_state_of_the_journal_holds_each_dead_lettered_message_in_exactly_one_queue()
    {
        // 10,000 moves in one dead-lettering: 20,000 journal operations, more than the writer's largest plain batch,
        // so a writer that split them would commit (and a crash could leave) some messages in both queues or none.
        const int count = 10_000;
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var (work, dead) = DeadLetterPair(vhost);
        var ticket = new JournalTicket();
        for (var i = 0; i < count; i++) vhost.PublishUnconfirmed("", Text($"m{i}", "work", Persistent()), ticket);
        ticket.Release();
        await ticket.Committed;
        var deliveries = work.Take(count, Lease);
        Assert.Equal(count, deliveries.Count);
        await temp.FlushAsync();

        using var reader = temp.OpenFile();
        using var total = reader.CreateCommand();
        total.CommandText = $"SELECT (SELECT COUNT(*) FROM queue_messages WHERE queue_id = {work.DurableId}) " +
                            $"+ (SELECT COUNT(*) FROM queue_messages WHERE queue_id = {dead.DurableId})";
        var seen = new HashSet<long>();
        var snapshots = 0;
        var batchesBefore = temp.Store.JournalBatches;
        var move = Task.Run(() => work.NackAsync(deliveries.Select(d => d.Tag).ToList(), requeue: false));
        // Each statement reads one committed state (WAL snapshot isolation): what a crash at that moment would leave.
        while (!move.IsCompleted)
        {
            seen.Add((long)total.ExecuteScalar()!);
            snapshots++;
        }
        await move;
        seen.Add((long)total.ExecuteScalar()!);

        // Deterministically: the whole move was one commit. And as a crash would see it: no state in between.
        Assert.Equal(1, temp.Store.JournalBatches - batchesBefore);
        Assert.True(seen.SetEquals([count]), $"Committed states held {string.Join(", ", seen)} entries over {snapshots + 1} snapshots; expected {count} always.");
        Assert.Equal(0, temp.Count("queue_messages", $"queue_id = {work.DurableId}"));
        await temp.RestartAsync();

        var again = temp.Broker().GetVhost("default")!;
        Assert.Equal(0, again.GetQueue("work")!.MessagesReady);
        var moved = again.GetQueue("dead")!.Take(count, Lease);
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"m{i}"), moved.Select(d => d.Message.Text()));
        Assert.All(moved, d => Assert.Equal("rejected", Table(Assert.Single(Deaths(d.Message)))["reason"]));
    }

    [Fact]
    public async Task A_dead_lettering_move_that_cannot_be_stored_fails_whole_and_leaves_the_message_in_its_queue()
    {
        await using var temp = TempStore.Lockable();
        var vhost = temp.Broker().GetVhost("default")!;
        var (work, _) = DeadLetterPair(vhost);
        await vhost.PublishAsync("", Text("poison", "work", Persistent()));
        var delivery = Assert.Single(work.Take(1, Lease));
        await temp.FlushAsync();

        using (new WriteLock(temp))
            await Assert.ThrowsAsync<StorageException>(() => work.NackAsync([delivery.Tag], requeue: false));
        await temp.RestartAsync();

        // Neither half of the move was stored: the message is where it was, once (not in both queues, not lost).
        var again = temp.Broker().GetVhost("default")!;
        Assert.Equal(["poison"], again.GetQueue("work")!.Take(10, Lease).Select(d => d.Message.Text()));
        Assert.Equal(0, again.GetQueue("dead")!.MessagesReady);
        Assert.Equal(1, temp.Count("queue_messages"));
    }
}
