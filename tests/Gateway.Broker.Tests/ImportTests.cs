using Gateway.Broker.Exchanges;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using static Gateway.Broker.Tests.Fx;

namespace Gateway.Broker.Tests;

/// <summary>MessageBroker.Import: a whole topology declared in one go, item by item outcomes, idempotent.</summary>
public sealed class ImportTests : IDisposable
{
    private readonly MessageBroker _broker = NewBroker();

    public void Dispose() => _broker.Dispose();

    private static TopologyImport Sample()
    {
        var import = new TopologyImport();
        import.Vhosts.Add("shop");
        import.Exchanges.Add(("shop", new ExchangeDefinition("orders", ExchangeType.Topic)));
        import.Exchanges.Add(("shop", new ExchangeDefinition("audit", ExchangeType.Fanout, Internal: true)));
        import.Queues.Add(("shop", new QueueDefinition("eu")));
        import.Queues.Add(("shop", new QueueDefinition("log")));
        import.Bindings.Add(("shop", new Binding("orders", "eu", BindingDestinationType.Queue, "orders.eu.*", null)));
        import.Bindings.Add(("shop", new Binding("orders", "audit", BindingDestinationType.Exchange, "#", null)));
        import.Bindings.Add(("shop", new Binding("audit", "log", BindingDestinationType.Queue, "", null)));
        return import;
    }

    [Fact]
    public void Import_creates_everything_and_routes_through_it()
    {
        var report = _broker.Import(Sample());

        Assert.True(report.Applied);
        Assert.All(report.Vhosts.Concat(report.Exchanges).Concat(report.Queues).Concat(report.Bindings),
            r => Assert.Equal(ImportOutcome.Created, r.Outcome));
        var shop = _broker.GetVhost("shop")!;
        Assert.Equal(["eu", "log"], shop.Routes("orders", "orders.eu.created"));
        Assert.Equal(["log"], shop.Routes("orders", "orders.us.created"));
    }

    [Fact]
    public void Importing_again_reports_every_item_as_existing_and_changes_nothing()
    {
        _broker.Import(Sample());
        var bindings = _broker.GetVhost("shop")!.ListBindings();

        var again = _broker.Import(Sample());

        Assert.All(again.Vhosts.Concat(again.Exchanges).Concat(again.Queues).Concat(again.Bindings),
            r => Assert.Equal(ImportOutcome.Existed, r.Outcome));
        Assert.Equal(bindings, _broker.GetVhost("shop")!.ListBindings());
    }

    [Fact]
    public void Refused_items_are_reported_with_the_reason_and_the_rest_is_applied()
    {
        _broker.Default().DeclareQueue(new QueueDefinition("taken", Durable: false));
        var import = new TopologyImport();
        import.Queues.Add(("default", new QueueDefinition("taken")));                // different definition: 409
        import.Queues.Add(("default", new QueueDefinition("amq.mine")));             // reserved name
        import.Queues.Add(("default", new QueueDefinition("fine")));
        import.Exchanges.Add(("nowhere", new ExchangeDefinition("x", ExchangeType.Direct))); // no such vhost
        import.Bindings.Add(("default", new Binding("amq.direct", "amq.mine", BindingDestinationType.Queue, "k", null))); // its queue was refused
        import.Bindings.Add(("default", new Binding("amq.direct", "fine", BindingDestinationType.Queue, "k", null)));

        var report = _broker.Import(import);

        Assert.True(report.Applied);
        Assert.Equal([ImportOutcome.Refused, ImportOutcome.Refused, ImportOutcome.Created], report.Queues.Select(r => r.Outcome));
        Assert.Contains("different definition", report.Queues[0].Reason);
        Assert.Contains("reserved", report.Queues[1].Reason);
        Assert.Equal(new ImportItemResult(ImportOutcome.Refused, "No vhost 'nowhere'."), report.Exchanges[0]);
        Assert.Equal([ImportOutcome.Refused, ImportOutcome.Created], report.Bindings.Select(r => r.Outcome));
        Assert.Contains("No queue 'amq.mine'", report.Bindings[0].Reason);
        Assert.Equal(["fine"], _broker.Default().Routes("amq.direct", "k"));
    }

    [Fact]
    public void All_or_nothing_refuses_the_whole_import_when_one_item_is_refused()
    {
        var import = Sample();
        import.Queues.Add(("shop", new QueueDefinition("amq.reserved")));

        var report = _broker.Import(import, allOrNothing: true);

        Assert.False(report.Applied);
        Assert.Equal(ImportOutcome.Created, report.Queues[0].Outcome); // what would have happened
        Assert.Equal(ImportOutcome.Refused, report.Queues[2].Outcome);
        Assert.Null(_broker.GetVhost("shop"));
    }

    [Fact]
    public void All_or_nothing_rolls_back_changes_to_existing_vhosts()
    {
        var vhost = _broker.Default();
        vhost.Exchange("kept", ExchangeType.Direct);
        vhost.Queue("q");
        var binding = vhost.BindQueue("kept", "q", "a");
        var import = new TopologyImport();
        import.Exchanges.Add(("default", new ExchangeDefinition("new", ExchangeType.Fanout)));
        import.Bindings.Add(("default", new Binding("kept", "q", BindingDestinationType.Queue, "b", null)));
        import.Bindings.Add(("default", new Binding("new", "q", BindingDestinationType.Queue, "", null)));
        import.Bindings.Add(("default", new Binding("kept", "missing", BindingDestinationType.Queue, "c", null)));

        var report = _broker.Import(import, allOrNothing: true);

        Assert.False(report.Applied);
        Assert.Null(vhost.GetExchange("new"));
        Assert.Equal([binding], vhost.ListBindings());
        Assert.Equal(["q"], vhost.Routes("kept", "a"));
        Assert.Empty(vhost.Routes("kept", "b"));
        // The vhost is usable afterwards: its lock was released and its state is whole.
        vhost.BindQueue("kept", "q", "b");
        Assert.Equal(["q"], vhost.Routes("kept", "b"));
    }
}
