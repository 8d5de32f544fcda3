using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;

namespace Gateway.Storage.Tests;

/// <summary>An import is stored in one transaction: all of it survives a restart, or (storage failure) none of it happened.</summary>
public sealed class ImportStoreTests
{
    private static TopologyImport Import()
    {
        var import = new TopologyImport();
        import.Vhosts.Add("shop");
        import.Exchanges.Add(("shop", new ExchangeDefinition("orders", ExchangeType.Topic)));
        import.Exchanges.Add(("default", new ExchangeDefinition("events", ExchangeType.Fanout)));
        import.Queues.Add(("shop", new QueueDefinition("eu")));
        import.Queues.Add(("default", new QueueDefinition("log")));
        import.Bindings.Add(("shop", new Binding("orders", "eu", BindingDestinationType.Queue, "orders.eu.*", null)));
        import.Bindings.Add(("default", new Binding("events", "log", BindingDestinationType.Queue, "", null)));
        return import;
    }

    [Fact]
    public async Task An_imported_topology_survives_a_restart()
    {
        await using var temp = new TempStore();
        temp.Broker().Import(Import());

        await temp.RestartAsync();
        var broker = temp.Broker();

        var shop = broker.GetVhost("shop")!;
        Assert.NotNull(shop.GetQueue("eu"));
        Assert.Single(shop.ListBindings());
        Assert.Single(broker.GetVhost("default")!.ListBindings());
    }

    [Fact]
    public async Task An_import_that_cannot_be_stored_changes_nothing_in_memory_or_on_disk()
    {
        await using var temp = TempStore.Lockable();
        var broker = temp.Broker();
        var vhost = broker.GetVhost("default")!;

        using (new WriteLock(temp))
            Assert.Throws<StorageException>(() => broker.Import(Import()));

        Assert.Null(broker.GetVhost("shop"));
        Assert.Null(vhost.GetExchange("events"));
        Assert.Null(vhost.GetQueue("log"));
        Assert.Empty(vhost.ListBindings());
        await temp.RestartAsync();
        var restarted = temp.Broker();
        Assert.Null(restarted.GetVhost("shop"));
        Assert.Null(restarted.GetVhost("default")!.GetQueue("log"));

        // Nothing was left half-done: the same import goes through once the lock is gone.
        var report = restarted.Import(Import());
        Assert.All(report.Exchanges.Concat(report.Queues).Concat(report.Bindings), r => Assert.Equal(ImportOutcome.Created, r.Outcome));
    }
}
