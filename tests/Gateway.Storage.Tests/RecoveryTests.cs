using System.Text;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using Gateway.Storage.Journal;
using static Gateway.Storage.Tests.TestTopology;

namespace Gateway.Storage.Tests;

public sealed class RecoveryTests
{
    private static readonly MessageProperties Persistent = new() { DeliveryMode = 2 };

    private static Message Msg(string text, MessageProperties? p = null) => new("", "q", p ?? Persistent, Encoding.UTF8.GetBytes(text));

    [Fact]
    public async Task Persistent_messages_of_a_durable_queue_survive_a_restart_in_order()
    {
        await using var temp = new TempStore();
        var broker = temp.Broker();
        var vhost = broker.GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("q"));
        for (var i = 0; i < 100; i++) await vhost.PublishAsync("", Msg($"m{i}"));
        await vhost.PublishAsync("", Msg("transient", MessageProperties.Empty));
        await temp.RestartAsync();

        var again = temp.Broker(out var recovered).GetVhost("default")!;
        Assert.Equal(100, recovered.Messages);
        var q = again.GetQueue("q")!;
        var got = q.Take(1000, TimeSpan.FromMinutes(1));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"m{i}"), got.Select(d => Encoding.UTF8.GetString(d.Message.Body.Span)));
        Assert.All(got, d => Assert.False(d.Redelivered));
    }

    [Fact]
    public async Task Acked_messages_do_not_come_back_and_unacked_come_back_redelivered()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var q = vhost.DeclareQueue(new QueueDefinition("q")).Queue;
        for (var i = 0; i < 4; i++) await vhost.PublishAsync("", Msg($"m{i}"));
        var got = q.Take(2, TimeSpan.FromMinutes(1));
        await q.AckAsync([got[0].Tag]);
        await temp.RestartAsync();

        var again = temp.Broker().GetVhost("default")!.GetQueue("q")!;
        var after = again.Take(10, TimeSpan.FromMinutes(1));
        Assert.Equal(["m1", "m2", "m3"], after.Select(d => Encoding.UTF8.GetString(d.Message.Body.Span)));
        Assert.Equal([true, false, false], after.Select(d => d.Redelivered));
        Assert.Equal([2, 1, 1], after.Select(d => d.DeliveryCount));
    }

    [Fact]
    public async Task Durable_topology_survives_and_transient_topology_does_not()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareExchange(new ExchangeDefinition("durable-x", ExchangeType.Topic, Arguments: new Dictionary<string, object?> { ["alternate-exchange"] = "ae" }));
        vhost.DeclareExchange(new ExchangeDefinition("transient-x", ExchangeType.Fanout, Durable: false));
        vhost.DeclareQueue(new QueueDefinition("durable-q"));
        vhost.DeclareQueue(new QueueDefinition("transient-q", Durable: false));
        vhost.Bind(new Gateway.Broker.Topology.Binding("durable-x", "durable-q", Gateway.Broker.Topology.BindingDestinationType.Queue, "a.#", null));
        vhost.Bind(new Gateway.Broker.Topology.Binding("durable-x", "transient-q", Gateway.Broker.Topology.BindingDestinationType.Queue, "b.#", null));
        await temp.RestartAsync();

        var again = temp.Broker().GetVhost("default")!;
        Assert.NotNull(again.GetExchange("durable-x"));
        Assert.Equal("ae", again.GetExchange("durable-x")!.AlternateExchange);
        Assert.Null(again.GetExchange("transient-x"));
        Assert.NotNull(again.GetQueue("durable-q"));
        Assert.Null(again.GetQueue("transient-q"));
        var binding = Assert.Single(again.ListBindings());
        Assert.Equal("a.#", binding.RoutingKey);
    }

    [Fact]
    public async Task Two_hundred_thousand_messages_across_four_queues_all_recover_in_order()
    {
        const int queues = 4, perQueue = 50_000;
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var ids = Enumerable.Range(0, queues).Select(q => vhost.DeclareQueue(new QueueDefinition($"q{q}")).Queue.DurableId).ToArray();
        await temp.RestartAsync();
        // Written in bulk by SQLite itself (the journal writer's own path is what the other tests exercise): rows as
        // the writer stores them, 100-byte bodies "q{queue}-{index:D8}" padded with dots.
        var persistent = Convert.ToHexString(FieldCodec.EncodeProperties(Persistent)!);
        for (var q = 0; q < queues; q++)
            temp.Execute($"""
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {perQueue - 1})
                INSERT INTO messages (id, exchange, routing_key, properties, body)
                SELECT {q * perQueue + 1} + i, '', 'q{q}', X'{persistent}',
                       CAST(substr(printf('q{q}-%08d', i) || replace(hex(zeroblob(50)), '0', '.'), 1, 100) AS BLOB)
                FROM n;
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {perQueue - 1})
                INSERT INTO queue_messages (queue_id, sequence, message_id, delivery_count)
                SELECT {ids[q]}, i + 1, {q * perQueue + 1} + i, 0 FROM n;
                """);

        var again = temp.Broker(out var recovered).GetVhost("default")!;

        Assert.Equal(queues * perQueue, recovered.Messages);
        Assert.Equal(queues, recovered.Queues);
        for (var q = 0; q < queues; q++)
        {
            var queue = again.GetQueue($"q{q}")!;
            Assert.Equal(perQueue, queue.MessagesReady);
            Assert.Equal(perQueue * 100L, queue.MessageBytesReady);
            var got = queue.Take(perQueue, TimeSpan.FromMinutes(5));
            Assert.Equal(perQueue, got.Count);
            Assert.Equal($"q{q}-{0:D8}", Key(got[0]));
            Assert.Equal($"q{q}-{perQueue - 1:D8}", Key(got[^1]));
            Assert.Equal(-1, Enumerable.Range(0, perQueue).FirstOrDefault(i => Key(got[i]) != $"q{q}-{i:D8}", -1));
            Assert.All(got, d => Assert.True(d.Message.Properties.IsPersistent && d.Message.Body.Length == 100 && !d.Redelivered));
        }

        static string Key(Delivery d) => Encoding.ASCII.GetString(d.Message.Body.Span).TrimEnd('.');
    }

    [Fact]
    public async Task A_message_shared_by_several_queues_is_one_instance_after_recovery()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        DeclareFanout(vhost, "fan", "a", "b", "c");
        for (var i = 0; i < 5; i++) await vhost.PublishAsync("fan", Msg($"m{i}"));
        await vhost.PublishAsync("", new Message("", "a", Persistent, Encoding.UTF8.GetBytes("only-a")));
        await temp.RestartAsync();

        var again = temp.Broker(out var recovered).GetVhost("default")!;
        var a = again.GetQueue("a")!.Take(10, TimeSpan.FromMinutes(1));
        var b = again.GetQueue("b")!.Take(10, TimeSpan.FromMinutes(1));
        var c = again.GetQueue("c")!.Take(10, TimeSpan.FromMinutes(1));

        Assert.Equal(16, recovered.Messages);
        Assert.Equal(6, a.Count);
        Assert.Equal(5, b.Count);
        Assert.Equal(5, c.Count);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal($"m{i}", Encoding.UTF8.GetString(a[i].Message.Body.Span));
            Assert.Same(a[i].Message, b[i].Message);
            Assert.Same(a[i].Message, c[i].Message);
        }
        Assert.Equal(5, a.Take(5).Select(d => d.Message).Distinct(ReferenceEqualityComparer.Instance).Count());
    }

    [Fact]
    public async Task A_recovered_shared_message_leaves_the_file_once_acked_in_all_its_queues()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        DeclareFanout(vhost, "fan", "a", "b");
        await vhost.PublishAsync("fan", Msg("shared"));
        await temp.RestartAsync();

        var again = temp.Broker().GetVhost("default")!;
        var a = again.GetQueue("a")!;
        var b = again.GetQueue("b")!;
        await a.AckAsync([Assert.Single(a.Take(1, TimeSpan.FromMinutes(1))).Tag]);
        Assert.Equal(1, temp.Count("messages"));
        await b.AckAsync([Assert.Single(b.Take(1, TimeSpan.FromMinutes(1))).Tag]);

        Assert.Equal(0, temp.Count("messages"));
        Assert.Equal(0, temp.Count("queue_messages"));
    }

    [Fact]
    public async Task Entries_of_a_queue_missing_from_the_topology_are_removed_at_recovery()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        var queues = DeclareFanout(vhost, "fan", "live", "gone");
        for (var i = 0; i < 3; i++) await vhost.PublishAsync("fan", Msg($"shared{i}"));
        await vhost.PublishAsync("", new Message("", "gone", Persistent, Encoding.UTF8.GetBytes("only-gone")));
        var goneId = queues[1].DurableId;
        await temp.RestartAsync();
        // A crash after the queue's deletion was stored but before the journal removed its entries.
        temp.Execute("DELETE FROM queues WHERE Name = 'gone'; DELETE FROM bindings WHERE Destination = 'gone';");
        Assert.Equal(4, temp.Count("queue_messages", $"queue_id = {goneId}"));

        var again = temp.Broker().GetVhost("default")!;

        Assert.Null(again.GetQueue("gone"));
        Assert.Equal(0, temp.Count("queue_messages", $"queue_id = {goneId}"));
        Assert.Equal(3, temp.Count("queue_messages"));
        Assert.Equal(3, temp.Count("messages"));
        var recovered = again.GetQueue("live")!.Take(10, TimeSpan.FromMinutes(1));
        Assert.Equal(["shared0", "shared1", "shared2"], recovered.Select(d => Encoding.UTF8.GetString(d.Message.Body.Span)));
        Assert.Equal(queues[0].DurableId, again.GetQueue("live")!.DurableId);
    }
}
