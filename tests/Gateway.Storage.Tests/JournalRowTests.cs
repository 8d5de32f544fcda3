using System.Text;
using Gateway.Broker.Durability;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using Gateway.Storage.Journal;
using Gateway.Storage.Topology;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Time.Testing;
using static Gateway.Storage.Tests.TestMessages;
using static Gateway.Storage.Tests.TestTopology;

namespace Gateway.Storage.Tests;

/// <summary>
/// The journal's two row shapes (issue 16, item 2): a persistent message that one durable queue holds is one row (its
/// queue entry, content inline, message_id 0); a message that several hold is one messages row plus one entry per
/// queue. Rows are counted on a separate connection to the file.
/// </summary>
public sealed class JournalRowTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Every property set, headers of several types, a 30-s expiration and a 60-s x-delay.</summary>
    private static readonly MessageProperties Rich = new()
    {
        DeliveryMode = 2,
        ContentType = "application/json",
        ContentEncoding = "gzip",
        Priority = 7,
        CorrelationId = "corr-1",
        ReplyTo = "replies",
        Expiration = "30000",
        MessageId = "id-1",
        Timestamp = 1_700_000_000,
        Type = "order.created",
        UserId = "alice",
        AppId = "shop",
        Headers = new Dictionary<string, object?>
        {
            ["text"] = "héllo",
            ["number"] = 42L,
            ["flag"] = true,
            ["bytes"] = new byte[] { 0, 1, 255 },
            ["list"] = new List<object?> { "a", 1L },
            ["x-delay"] = 60_000L,
        },
    };

    private static byte[] Body(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>The rows of both journal tables.</summary>
    private static (long Messages, long Entries) Rows(TempStore temp) => (temp.Count("messages"), temp.Count("queue_messages"));

    [Fact]
    public async Task A_persistent_message_in_one_durable_queue_is_one_row_with_its_content_inline()
    {
        await using var temp = new TempStore(SynchronousMode.Full);
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("q"));

        await vhost.PublishAsync("", Text("hello"));

        Assert.Equal((0, 1), Rows(temp));
        Assert.Equal(1, temp.Count("queue_messages", "message_id = 0 AND body = CAST('hello' AS BLOB) AND routing_key = 'q' AND exchange = ''"));
    }

    [Fact]
    public async Task A_persistent_message_in_two_durable_queues_is_stored_once_and_its_entries_hold_no_content()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        DeclareFanout(vhost, "fan", "a", "b");

        await vhost.PublishAsync("fan", Text("shared", ""));

        Assert.Equal((1, 2), Rows(temp));
        var id = temp.Scalar("SELECT id FROM messages");
        Assert.Equal(2, temp.Count("queue_messages", $"message_id = {id} AND body IS NULL AND exchange IS NULL AND routing_key IS NULL AND properties IS NULL"));
    }

    [Fact]
    public async Task A_large_message_in_one_queue_keeps_the_two_row_shape_and_leaves_with_its_ack()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("q"));
        var body = new string('x', 2_000);

        await vhost.PublishAsync("", Text(body));

        // An inline row this long would spill to an overflow page of its own (see JournalWriter.MaxInlineBytes).
        Assert.Equal((1, 1), Rows(temp));
        await temp.RestartAsync();
        var again = temp.Broker().GetVhost("default")!.GetQueue("q")!;
        var delivery = Assert.Single(again.Take(1, Lease));
        Assert.Equal(body, delivery.Message.Text());
        await again.AckAsync([delivery.Tag]);
        Assert.Equal((0, 0), Rows(temp));
    }

    [Fact]
    public async Task A_message_routed_to_one_durable_and_one_memory_queue_is_one_row()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareExchange(new ExchangeDefinition("fan", ExchangeType.Fanout));
        vhost.DeclareQueue(new QueueDefinition("durable"));
        vhost.DeclareQueue(new QueueDefinition("memory", Durable: false));
        vhost.Bind(new Binding("fan", "durable", BindingDestinationType.Queue, "", null));
        vhost.Bind(new Binding("fan", "memory", BindingDestinationType.Queue, "", null));

        Assert.Equal(2, (await vhost.PublishAsync("fan", Text("m", ""))).Queues);

        Assert.Equal((0, 1), Rows(temp));
    }

    [Fact]
    public async Task Both_shapes_recover_with_properties_body_delivery_count_expiry_and_delay_intact()
    {
        await using var temp = new TempStore();
        var clock = new FakeTimeProvider(Start);
        var broker = temp.Broker(clock);
        var vhost = broker.GetVhost("default")!;
        DeclareFanout(vhost, "fan", "a", "b");
        var single = vhost.DeclareQueue(new QueueDefinition("single")).Queue;
        await vhost.PublishAsync("", new Message("", "single", Rich, Body("inline body")));
        await vhost.PublishAsync("fan", new Message("fan", "rk", Rich, Body("shared body")));
        // A second message, with no expiry or delay (their 0 must come back too); both of single's are delivered twice.
        await vhost.PublishAsync("", new Message("", "single", Persistent, Body("delivered")));
        clock.Advance(TimeSpan.FromSeconds(61));
        broker.RunDueTimers();
        for (var i = 0; i < 2; i++)
        {
            var deliveries = single.Take(10, Lease);
            Assert.Equal(2, deliveries.Count);
            await single.NackAsync(deliveries.Select(d => d.Tag).ToArray(), requeue: true);
        }
        await temp.FlushAsync();
        Assert.Equal((1, 4), Rows(temp));
        await temp.RestartAsync();

        var recovered = temp.Store.ReadMessages().ToList();

        var delayedUntil = Start.AddSeconds(60).UtcTicks;
        var expiresAt = Start.AddSeconds(90).UtcTicks; // 30 s after the delay ends
        Assert.Equal(4, recovered.Count);
        var inline = recovered.Single(e => e.Message.Text() == "inline body");
        var shared = recovered.Where(e => e.Message.Text() == "shared body").ToList();
        var delivered = recovered.Single(e => e.Message.Text() == "delivered");
        Assert.Equal(2, shared.Count);
        Assert.Same(shared[0].Message, shared[1].Message);
        foreach (var entry in (RecoveredEntry[])[inline, .. shared])
        {
            Assert.Equal(FieldCodec.EncodeProperties(Rich), FieldCodec.EncodeProperties(entry.Message.Properties));
            Assert.Equal("héllo", entry.Message.Properties.Headers!["text"]);
            Assert.Equal(new byte[] { 0, 1, 255 }, entry.Message.Properties.Headers!["bytes"]);
            Assert.Equal("corr-1", entry.Message.Properties.CorrelationId);
            Assert.Equal((expiresAt, delayedUntil), (entry.ExpiresAt, entry.NotBefore));
        }
        Assert.Equal(("", "single"), (inline.Message.Exchange, inline.Message.RoutingKey));
        Assert.Equal(("fan", "rk"), (shared[0].Message.Exchange, shared[0].Message.RoutingKey));
        Assert.Equal(2, inline.DeliveryCount);
        Assert.All(shared, e => Assert.Equal(0, e.DeliveryCount));
        Assert.Equal(2, delivered.DeliveryCount);
        Assert.Equal((0L, 0L), (delivered.ExpiresAt, delivered.NotBefore));
        Assert.Equal(Persistent, delivered.Message.Properties);
    }

    [Fact]
    public async Task Inline_and_shared_messages_of_one_queue_recover_in_publish_order()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        DeclareFanout(vhost, "fan", "a", "b");
        var expected = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            var text = $"m{i}";
            expected.Add(text);
            if (i % 3 == 0) await vhost.PublishAsync("fan", Text(text, ""));
            else await vhost.PublishAsync("", Text(text, "a"));
        }
        Assert.Equal((7, 27), Rows(temp));
        await temp.RestartAsync();

        var again = temp.Broker(out var recovered).GetVhost("default")!;

        Assert.Equal(27, recovered.Messages);
        Assert.Equal(expected, again.GetQueue("a")!.Take(100, Lease).Select(d => d.Message.Text()));
        Assert.Equal(expected.Where((_, i) => i % 3 == 0), again.GetQueue("b")!.Take(100, Lease).Select(d => d.Message.Text()));
    }

    [Fact]
    public async Task Acks_purge_and_queue_deletion_leave_no_rows_of_either_shape()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var queues = DeclareFanout(vhost, "fan", "a", "b");
        var solo = vhost.DeclareQueue(new QueueDefinition("solo")).Queue;
        for (var i = 0; i < 4; i++)
        {
            await vhost.PublishAsync("fan", Text($"shared{i}", ""));
            await vhost.PublishAsync("", Text($"a{i}", "a"));
            await vhost.PublishAsync("", Text($"solo{i}", "solo"));
        }
        Assert.Equal((4, 16), Rows(temp));

        // Acks: two messages of each shape from a, and from solo.
        foreach (var delivery in queues[0].Take(4, Lease)) await queues[0].AckAsync([delivery.Tag]);
        foreach (var delivery in solo.Take(2, Lease)) await solo.AckAsync([delivery.Tag]);
        Assert.Equal((4, 10), Rows(temp)); // the shared ones acked in a are still in b
        // Purge: the rest of a (both shapes).
        Assert.Equal(4, await queues[0].PurgeAsync());
        await temp.FlushAsync();
        Assert.Equal((4, 6), Rows(temp)); // b still holds all four shared messages
        // Queue deletion: b takes the last references of the shared messages with it, solo its inline ones.
        Assert.Equal(4, vhost.DeleteQueue("b"));
        Assert.Equal(2, vhost.DeleteQueue("solo"));
        await temp.FlushAsync();

        Assert.Equal((0, 0), Rows(temp));
        await temp.RestartAsync();
        temp.Broker(out var recovered);
        Assert.Equal(0, recovered.Messages);
    }

    [Fact]
    public async Task A_dead_lettered_single_queue_message_moves_as_one_row()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("dead"));
        var work = vhost.DeclareQueue(new QueueDefinition("work", Arguments: new Dictionary<string, object?>
        {
            ["x-dead-letter-exchange"] = "", ["x-dead-letter-routing-key"] = "dead",
        })).Queue;
        await vhost.PublishAsync("", Text("m", "work"));

        await work.NackAsync([Assert.Single(work.Take(1, Lease)).Tag], requeue: false);
        await temp.FlushAsync();

        Assert.Equal((0, 1), Rows(temp));
        Assert.Equal(1, temp.Count("queue_messages", $"queue_id = {vhost.GetQueue("dead")!.DurableId} AND message_id = 0"));
        await temp.RestartAsync();
        var dead = temp.Broker().GetVhost("default")!.GetQueue("dead")!;
        var delivery = Assert.Single(dead.Take(10, Lease));
        Assert.Equal("m", delivery.Message.Text());
        Assert.NotNull(delivery.Message.Properties.Headers?.GetValueOrDefault("x-death"));
    }

    [Fact]
    public async Task A_second_queue_entry_written_after_an_inline_one_moves_the_content_into_a_shared_row()
    {
        await using var temp = new TempStore();
        var journal = temp.Store.Journal;
        var message = Text("fan-out split across two batches", "", Rich);

        journal.Insert(message, queueId: 11, sequence: 1, expiresAt: 5, notBefore: 6, ticket: null);
        await temp.FlushAsync();
        Assert.Equal((0, 1), Rows(temp));
        journal.Insert(message, queueId: 12, sequence: 3, expiresAt: 7, notBefore: 0, ticket: null);
        await temp.FlushAsync();

        Assert.Equal((1, 2), Rows(temp));
        Assert.Equal(0, temp.Count("queue_messages", "message_id = 0 OR body IS NOT NULL OR properties IS NOT NULL"));
        await temp.RestartAsync();
        var recovered = temp.Store.ReadMessages().ToList();
        Assert.Equal([(11L, 1L, 5L, 6L), (12L, 3L, 7L, 0L)], recovered.Select(e => (e.QueueId, e.Sequence, e.ExpiresAt, e.NotBefore)));
        Assert.Same(recovered[0].Message, recovered[1].Message);
        Assert.Equal("fan-out split across two batches", recovered[0].Message.Text());
        Assert.Equal(FieldCodec.EncodeProperties(Rich), FieldCodec.EncodeProperties(recovered[0].Message.Properties));

        // The recovered instance knows its shared row: the last removal takes it.
        temp.Store.Journal.Remove(recovered[0].Message, 11, 1, lastReference: false, ticket: null);
        temp.Store.Journal.Remove(recovered[0].Message, 12, 3, lastReference: true, ticket: null);
        await temp.FlushAsync();
        Assert.Equal((0, 0), Rows(temp));
    }

    [Fact]
    public async Task A_recovered_inline_message_leaves_the_file_with_its_one_removal()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("q"));
        await vhost.PublishAsync("", Text("m"));
        await temp.RestartAsync();

        var q = temp.Broker().GetVhost("default")!.GetQueue("q")!;
        await q.AckAsync([Assert.Single(q.Take(1, Lease)).Tag]);

        Assert.Equal((0, 0), Rows(temp));
    }

    [Fact]
    public async Task A_shared_row_whose_batch_rolled_back_is_forgotten_and_written_again_by_the_next_entry()
    {
        await using var temp = new TempStore();
        var journal = temp.Store.Journal;
        var message = Text("m", "");
        journal.Insert(message, queueId: 21, sequence: 1, expiresAt: 0, notBefore: 0, ticket: null);
        await temp.FlushAsync();
        // One batch (an atomic group) that shares the message, then fails: a second entry at the same key breaks the
        // primary key after the messages row and the update of queue 21's entry were written, so all of it rolls back.
        var ticket = new JournalTicket();
        ticket.Add();
        ticket.Add();
        journal.BeginAtomic();
        journal.Insert(message, queueId: 22, sequence: 1, expiresAt: 0, notBefore: 0, ticket);
        journal.Insert(Text("clash", ""), queueId: 22, sequence: 1, expiresAt: 0, notBefore: 0, ticket);
        journal.EndAtomic();
        ticket.Release();
        await Assert.ThrowsAsync<StorageException>(() => ticket.Committed);
        Assert.Equal((0, 1), Rows(temp));

        // The message is inline in queue 21's entry again, so a third entry shares it from scratch.
        journal.Insert(message, queueId: 23, sequence: 1, expiresAt: 0, notBefore: 0, ticket: null);
        await temp.FlushAsync();

        Assert.Equal((1, 2), Rows(temp));
        await temp.RestartAsync();
        var recovered = temp.Store.ReadMessages().ToList();
        Assert.Equal([21L, 23L], recovered.Select(e => e.QueueId));
        Assert.Same(recovered[0].Message, recovered[1].Message);
        Assert.Equal("m", recovered[0].Message.Text());
    }

    [Fact]
    public async Task Entries_of_a_deleted_queue_left_by_a_crash_are_removed_at_recovery_in_both_shapes()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        DeclareFanout(vhost, "fan", "live", "gone");
        var goneId = vhost.GetQueue("gone")!.DurableId;
        for (var i = 0; i < 2; i++)
        {
            await vhost.PublishAsync("fan", Text($"shared{i}", ""));
            await vhost.PublishAsync("", Text($"gone{i}", "gone"));
            await vhost.PublishAsync("", Text($"live{i}", "live"));
        }
        await temp.RestartAsync();
        temp.Execute("DELETE FROM queues WHERE Name = 'gone'; DELETE FROM bindings WHERE Destination = 'gone';");

        var again = temp.Broker().GetVhost("default")!;

        Assert.Equal(0, temp.Count("queue_messages", $"queue_id = {goneId}"));
        Assert.Equal((2, 4), Rows(temp));
        Assert.Equal(["shared0", "live0", "shared1", "live1"], again.GetQueue("live")!.Take(10, Lease).Select(d => d.Message.Text()));
    }

    // ------------------------------------------------------------------ files written before the inline shape

    private const string PreviousMigration = "20261127090528_Webhooks";

    /// <summary>
    /// A file as the version before inline entries left it: migrated up to <see cref="PreviousMigration"/>, two durable
    /// queues (ids 501, 502), and journal rows in the two-table shape: one message in both queues (id 1), two in 501
    /// only (ids 2, 3: one delivered twice, expiring and delayed; one with no properties row).
    /// </summary>
    private static void CreatePreviousVersionFile(TempStore temp)
    {
        Directory.CreateDirectory(temp.Options.DataPath);
        var connectionString = new SqliteConnectionStringBuilder { DataSource = temp.DatabasePath, Pooling = false }.ToString();
        using (var db = new GatewayDbContext(new DbContextOptionsBuilder<GatewayDbContext>().UseSqlite(connectionString).Options))
            db.GetService<IMigrator>().Migrate(PreviousMigration);
        var rich = Convert.ToHexString(FieldCodec.EncodeProperties(Rich)!);
        var persistent = Convert.ToHexString(FieldCodec.EncodeProperties(Persistent)!);
        temp.Execute($"""
            INSERT INTO vhosts (Name) VALUES ('default');
            INSERT INTO queues (Vhost, Name, QueueId, Exclusive, AutoDelete, Arguments) VALUES ('default', 'one', 501, 0, 0, NULL);
            INSERT INTO queues (Vhost, Name, QueueId, Exclusive, AutoDelete, Arguments) VALUES ('default', 'two', 502, 0, 0, NULL);
            INSERT INTO messages (id, exchange, routing_key, properties, body) VALUES
                (1, 'fan', '', X'{persistent}', CAST('old shared' AS BLOB)),
                (2, '', 'one', X'{rich}', CAST('old rich' AS BLOB)),
                (3, '', 'one', X'{persistent}', CAST('old plain' AS BLOB));
            INSERT INTO queue_messages (queue_id, sequence, message_id, delivery_count, expires_at, not_before) VALUES
                (501, 1, 1, 0, 0, 0),
                (502, 1, 1, 0, 0, 0),
                (501, 2, 2, 2, {Start.AddDays(400).UtcTicks}, {Start.AddSeconds(60).UtcTicks}),
                (501, 3, 3, 0, 0, 0);
            """);
    }

    [Fact]
    public async Task A_journal_written_before_inline_entries_recovers_intact_after_the_migration()
    {
        await using var temp = new TempStore();
        CreatePreviousVersionFile(temp);

        var recovered = temp.Store.ReadMessages().ToList();

        Assert.Equal(1, temp.Count("__EFMigrationsHistory", "MigrationId = '20261207113500_InlineQueueMessages'"));
        Assert.Equal([(501L, 1L), (501L, 2L), (501L, 3L), (502L, 1L)], recovered.Select(e => (e.QueueId, e.Sequence)));
        Assert.Equal(["old shared", "old rich", "old plain", "old shared"], recovered.Select(e => e.Message.Text()));
        Assert.Same(recovered[0].Message, recovered[3].Message);
        var rich = recovered[1];
        Assert.Equal(FieldCodec.EncodeProperties(Rich), FieldCodec.EncodeProperties(rich.Message.Properties));
        Assert.Equal((2, Start.AddDays(400).UtcTicks, Start.AddSeconds(60).UtcTicks), (rich.DeliveryCount, rich.ExpiresAt, rich.NotBefore));
        Assert.Equal(Persistent, recovered[2].Message.Properties);
    }

    [Fact]
    public async Task After_the_migration_old_rows_and_new_inline_ones_share_a_queue_in_order_and_all_leave_on_ack()
    {
        await using var temp = new TempStore();
        CreatePreviousVersionFile(temp);
        var clock = new FakeTimeProvider(Start.AddSeconds(61)); // past the old rich message's delay
        var vhost = temp.Broker(clock).GetVhost("default")!;
        await vhost.PublishAsync("", Text("new", "one"));
        Assert.Equal((3, 5), Rows(temp));
        await temp.RestartAsync();

        var again = temp.Broker(clock).GetVhost("default")!;
        var one = again.GetQueue("one")!;
        var two = again.GetQueue("two")!;
        var fromOne = one.Take(10, Lease);
        var fromTwo = two.Take(10, Lease);

        // The delayed old message joins the queue when its delay is over (at the end of recovery), after the ready ones.
        Assert.Equal(["old shared", "old plain", "new", "old rich"], fromOne.Select(d => d.Message.Text()));
        Assert.Equal([false, false, false, true], fromOne.Select(d => d.Redelivered));
        Assert.Equal("old shared", Assert.Single(fromTwo).Message.Text());
        foreach (var delivery in fromOne) await one.AckAsync([delivery.Tag]);
        Assert.Equal((1, 1), Rows(temp)); // the shared message is still in two
        await two.AckAsync([fromTwo[0].Tag]);
        Assert.Equal((0, 0), Rows(temp));
    }
}
