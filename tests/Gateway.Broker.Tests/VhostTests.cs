using Gateway.Broker.Exchanges;
using Gateway.Broker.Queues;
using static Gateway.Broker.Tests.Fx;

namespace Gateway.Broker.Tests;

public class VhostTests : IDisposable
{
    private readonly MessageBroker _broker = NewBroker();

    public void Dispose() => _broker.Dispose();

    [Fact]
    public void Default_vhost_exists_from_the_start()
    {
        var vhost = _broker.GetVhost("default");

        Assert.NotNull(vhost);
        Assert.Equal("default", vhost.Name);
        Assert.False(vhost.IsDeleted);
    }

    [Fact]
    public void Unknown_vhost_is_null()
    {
        Assert.Null(_broker.GetVhost("nope"));
    }

    [Fact]
    public void Creating_a_vhost_returns_true_only_the_first_time()
    {
        Assert.True(_broker.CreateVhost("v"));
        var first = _broker.GetVhost("v");

        Assert.False(_broker.CreateVhost("v"));
        Assert.Same(first, _broker.GetVhost("v"));
    }

    [Fact]
    public void Vhosts_are_listed_by_name()
    {
        _broker.CreateVhost("zeta");
        _broker.CreateVhost("alpha");

        Assert.Equal(["alpha", "default", "zeta"], _broker.ListVhosts().Select(v => v.Name));
    }

    [Fact]
    public void New_vhost_has_the_default_and_predeclared_exchanges()
    {
        _broker.CreateVhost("v");

        var exchanges = _broker.GetVhost("v")!.ListExchanges();

        Assert.Equal(["", "amq.direct", "amq.fanout", "amq.headers", "amq.match", "amq.topic"], exchanges.Select(x => x.Name));
        Assert.Equal(
            [ExchangeType.Direct, ExchangeType.Direct, ExchangeType.Fanout, ExchangeType.Headers, ExchangeType.Headers, ExchangeType.Topic],
            exchanges.Select(x => x.Type));
        Assert.All(exchanges, x => Assert.True(x.Durable));
    }

    [Fact]
    public void Vhosts_are_isolated_namespaces()
    {
        _broker.CreateVhost("other");
        var a = _broker.Default();
        var b = _broker.GetVhost("other")!;
        var qa = a.Queue("q");
        var qb = b.Queue("q");
        a.Exchange("x", ExchangeType.Fanout);

        a.Send("", "q", "for-a");

        Assert.NotSame(qa, qb);
        Assert.Equal(1, qa.MessagesReady);
        Assert.Equal(0, qb.MessagesReady);
        Assert.Null(b.GetExchange("x"));
        Assert.Equal(Topology.PublishStatus.ExchangeNotFound, b.Send("x", "k").Status);
    }

    [Fact]
    public void Same_queue_definition_may_differ_between_vhosts()
    {
        _broker.CreateVhost("other");

        _broker.Default().DeclareQueue(new QueueDefinition("q", Durable: true));
        var (_, outcome) = _broker.GetVhost("other")!.DeclareQueue(new QueueDefinition("q", Durable: false));

        Assert.Equal(Topology.DeclareOutcome.Created, outcome);
    }

    [Fact]
    public void Default_vhost_cannot_be_deleted()
    {
        Refused(BrokerError.AccessRefused, () => _broker.DeleteVhost("default"));
        Assert.NotNull(_broker.GetVhost("default"));
    }

    [Fact]
    public void Deleting_a_missing_vhost_throws_NotFound()
    {
        Refused(BrokerError.NotFound, () => _broker.DeleteVhost("missing"));
    }

    [Fact]
    public void Deleted_vhost_is_gone_and_refuses_topology_changes()
    {
        _broker.CreateVhost("v");
        var vhost = _broker.GetVhost("v")!;
        vhost.Exchange("x", ExchangeType.Fanout);

        _broker.DeleteVhost("v");

        Assert.Null(_broker.GetVhost("v"));
        Assert.True(vhost.IsDeleted);
        Refused(BrokerError.NotFound, () => vhost.DeclareQueue(new QueueDefinition("q")));
        Refused(BrokerError.NotFound, () => vhost.DeclareExchange(new ExchangeDefinition("y", ExchangeType.Direct)));
        Refused(BrokerError.NotFound, () => vhost.DeleteExchange("x"));
    }

    [Fact]
    public async Task Deleting_a_vhost_deletes_its_queues_and_ends_their_consumers()
    {
        _broker.CreateVhost("v");
        var vhost = _broker.GetVhost("v")!;
        var q = vhost.Queue("q");
        vhost.Send("", "q");
        var c = q.Subscribe(1);

        _broker.DeleteVhost("v");

        // The delivery already in the consumer's buffer can be read; then the subscription ends.
        Assert.Single(c.Buffered());
        await c.Deliveries.Completion.WaitAsync(Safety);
        Assert.Equal(ConsumerEndReason.QueueDeleted, c.EndReason);
        Assert.True(q.IsDeleted);
        Assert.Equal(0, q.MessagesReady);
        Assert.Equal(0, q.MessagesUnacknowledged);
    }

    [Fact]
    public void Publishing_into_a_deleted_vhost_reaches_no_queue()
    {
        _broker.CreateVhost("v");
        var vhost = _broker.GetVhost("v")!;
        vhost.Queue("q");

        _broker.DeleteVhost("v");

        Assert.Equal(0, vhost.Send("", "q").Queues);
    }

    [Fact]
    public void Recreated_vhost_starts_empty()
    {
        _broker.CreateVhost("v");
        _broker.GetVhost("v")!.Queue("q");
        _broker.DeleteVhost("v");

        Assert.True(_broker.CreateVhost("v"));

        Assert.Empty(_broker.GetVhost("v")!.ListQueues());
    }
}
