using Gateway.Broker.Durability;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using static Gateway.Storage.Tests.TestMessages;

namespace Gateway.Storage.Tests;

/// <summary>Durable topology in the file, and what a failed write does to the engine.</summary>
public sealed class TopologyStoreTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);

    private static void DeclareDurableTopology(VirtualHost vhost)
    {
        vhost.DeclareExchange(new ExchangeDefinition("x", ExchangeType.Direct));
        vhost.DeclareQueue(new QueueDefinition("q"));
        vhost.Bind(new Binding("x", "q", BindingDestinationType.Queue, "k", null));
    }

    [Fact]
    public async Task A_created_vhost_survives_a_restart_with_its_durable_topology()
    {
        await using var temp = new TempStore();
        var broker = temp.Broker();
        Assert.True(broker.CreateVhost("v1"));
        DeclareDurableTopology(broker.GetVhost("v1")!);
        await temp.RestartAsync();

        var v1 = temp.Broker().GetVhost("v1");

        Assert.NotNull(v1);
        Assert.NotNull(v1.GetExchange("x"));
        Assert.NotNull(v1.GetQueue("q"));
        Assert.Equal("k", Assert.Single(v1.ListBindings()).RoutingKey);
    }

    [Fact]
    public async Task A_deleted_vhost_is_gone_after_a_restart_with_its_exchanges_queues_bindings_and_messages()
    {
        await using var temp = new TempStore();
        var broker = temp.Broker();
        broker.CreateVhost("v1");
        var v1 = broker.GetVhost("v1")!;
        DeclareDurableTopology(v1);
        await v1.PublishAsync("x", Text("m", "k"));
        DeclareDurableTopology(broker.GetVhost("default")!);

        broker.DeleteVhost("v1");
        await temp.RestartAsync();

        var again = temp.Broker(out var recovered);
        Assert.Null(again.GetVhost("v1"));
        Assert.Equal(0, recovered.Messages);
        Assert.Equal(0, temp.Count("vhosts", "Name = 'v1'"));
        Assert.Equal(0, temp.Count("exchanges", "Vhost = 'v1'"));
        Assert.Equal(0, temp.Count("queues", "Vhost = 'v1'"));
        Assert.Equal(0, temp.Count("bindings", "Vhost = 'v1'"));
        Assert.Equal(0, temp.Count("queue_messages"));
        Assert.Equal(0, temp.Count("messages"));
        // The same names in another vhost are untouched.
        Assert.Equal(1, temp.Count("exchanges", "Vhost = 'default'"));
        Assert.Equal(1, temp.Count("queues", "Vhost = 'default'"));
        Assert.Equal(1, temp.Count("bindings", "Vhost = 'default'"));
    }

    [Fact]
    public async Task Unbinding_the_last_binding_of_a_durable_auto_delete_exchange_deletes_it_for_good()
    {
        await using var temp = new TempStore();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareExchange(new ExchangeDefinition("auto", ExchangeType.Topic, AutoDelete: true));
        vhost.DeclareQueue(new QueueDefinition("q1"));
        vhost.DeclareQueue(new QueueDefinition("q2"));
        var first = vhost.Bind(new Binding("auto", "q1", BindingDestinationType.Queue, "a.#", null)).Binding;
        var second = vhost.Bind(new Binding("auto", "q2", BindingDestinationType.Queue, "b.#", null)).Binding;

        vhost.Unbind(first.Id);
        await temp.RestartAsync();
        vhost = temp.Broker().GetVhost("default")!;
        Assert.NotNull(vhost.GetExchange("auto"));

        vhost.Unbind(second.Id);
        Assert.Null(vhost.GetExchange("auto"));
        await temp.RestartAsync();

        var again = temp.Broker().GetVhost("default")!;
        Assert.Null(again.GetExchange("auto"));
        Assert.Empty(again.ListBindings());
        Assert.Equal(0, temp.Count("exchanges", "Name = 'auto'"));
        Assert.NotNull(again.GetQueue("q1"));
        Assert.NotNull(again.GetQueue("q2"));
    }

    [Fact]
    public async Task A_queue_declaration_that_cannot_be_stored_fails_and_leaves_no_queue()
    {
        await using var temp = TempStore.Lockable();
        var vhost = temp.Broker().GetVhost("default")!;

        using (new WriteLock(temp))
        {
            Assert.Throws<StorageException>(() => vhost.DeclareQueue(new QueueDefinition("q")));
            Assert.Null(vhost.GetQueue("q"));
            Assert.DoesNotContain(vhost.ListQueues(), q => q.Name == "q");
        }

        var (queue, outcome) = vhost.DeclareQueue(new QueueDefinition("q"));
        Assert.Equal(DeclareOutcome.Created, outcome);
        Assert.Same(queue, vhost.GetQueue("q"));
        await temp.RestartAsync();
        Assert.NotNull(temp.Broker().GetVhost("default")!.GetQueue("q"));
    }

    [Fact]
    public async Task A_queue_deletion_that_cannot_be_stored_fails_and_keeps_the_queue_and_its_bindings()
    {
        await using var temp = TempStore.Lockable();
        var vhost = temp.Broker().GetVhost("default")!;
        DeclareDurableTopology(vhost);
        await vhost.PublishAsync("x", Text("m", "k"));

        using (new WriteLock(temp))
            Assert.Throws<StorageException>(() => vhost.DeleteQueue("q"));

        var queue = vhost.GetQueue("q");
        Assert.NotNull(queue);
        Assert.False(queue.IsDeleted);
        Assert.Single(vhost.ListBindings());
        Assert.Equal(1, (await vhost.PublishAsync("x", Text("after", "k"))).Queues);
        await temp.RestartAsync();
        var again = temp.Broker().GetVhost("default")!;
        Assert.Single(again.ListBindings());
        Assert.Equal(["m", "after"], again.GetQueue("q")!.Take(10, Lease).Select(d => d.Message.Text()));
    }

    [Fact]
    public async Task A_persistent_publish_that_cannot_be_stored_fails_and_the_journal_recovers_when_the_lock_is_released()
    {
        await using var temp = TempStore.Lockable();
        var vhost = temp.Broker().GetVhost("default")!;
        vhost.DeclareQueue(new QueueDefinition("q"));

        using (new WriteLock(temp))
            await Assert.ThrowsAsync<StorageException>(async () => await vhost.PublishAsync("", Text("refused")));

        await vhost.PublishAsync("", Text("stored"));
        await temp.RestartAsync();
        var again = temp.Broker().GetVhost("default")!.GetQueue("q")!;
        // The refused message may or may not be on disk (it was not confirmed); the confirmed one must be.
        Assert.Contains("stored", again.Take(10, Lease).Select(d => d.Message.Text()));
    }
}
