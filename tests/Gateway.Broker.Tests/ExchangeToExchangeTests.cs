using Gateway.Broker.Exchanges;
using Gateway.Broker.Topology;
using static Gateway.Broker.Tests.Fx;

namespace Gateway.Broker.Tests;

public class ExchangeToExchangeTests : IDisposable
{
    private readonly MessageBroker _broker = NewBroker();
    private readonly VirtualHost _vhost;

    public ExchangeToExchangeTests() => _vhost = _broker.Default();

    public void Dispose() => _broker.Dispose();

    [Fact]
    public void Message_reaches_a_queue_through_an_exchange_to_exchange_binding()
    {
        _vhost.Exchange("x1", ExchangeType.Fanout);
        _vhost.Exchange("x2", ExchangeType.Fanout);
        var q = _vhost.Queue("q");
        _vhost.BindExchange("x1", "x2");
        _vhost.BindQueue("x2", "q");

        Assert.Equal(1, _vhost.Send("x1", "k", "m").Queues);
        Assert.Equal(["m"], q.DrainTexts());
    }

    [Fact]
    public void Each_hop_matches_the_original_routing_key()
    {
        _vhost.Exchange("topic", ExchangeType.Topic);
        _vhost.Exchange("direct", ExchangeType.Direct);
        _vhost.Queue("exact");
        _vhost.Queue("pattern");
        _vhost.BindExchange("topic", "direct", "orders.*");
        _vhost.BindQueue("direct", "exact", "orders.eu");
        // The binding key of the first hop is not what the second hop sees.
        _vhost.BindQueue("direct", "pattern", "orders.*");

        Assert.Equal(["exact"], _vhost.Routes("topic", "orders.eu"));
        Assert.Empty(_vhost.Routes("topic", "orders.us"));
        Assert.Empty(_vhost.Routes("topic", "invoices.eu"));
    }

    [Fact]
    public void Headers_are_matched_at_every_hop()
    {
        _vhost.Exchange("t", ExchangeType.Topic);
        _vhost.Exchange("h", ExchangeType.Headers);
        _vhost.Queue("q");
        _vhost.BindExchange("t", "h", "#");
        _vhost.BindQueue("h", "q", "", Table(("a", "1")));

        Assert.Equal(["q"], _vhost.Routes("t", "k", Table(("a", "1"))));
        Assert.Empty(_vhost.Routes("t", "k", Table(("a", "2"))));
    }

    [Fact]
    public void Queue_reachable_by_several_paths_receives_one_copy()
    {
        _vhost.Exchange("x1", ExchangeType.Fanout);
        _vhost.Exchange("x2", ExchangeType.Fanout);
        _vhost.Exchange("x3", ExchangeType.Fanout);
        var q = _vhost.Queue("q");
        _vhost.BindQueue("x1", "q");
        _vhost.BindExchange("x1", "x2");
        _vhost.BindExchange("x1", "x3");
        _vhost.BindQueue("x2", "q");
        _vhost.BindQueue("x3", "q");

        Assert.Equal(1, _vhost.Send("x1", "k", "m").Queues);
        Assert.Equal(["m"], q.DrainTexts());
    }

    [Fact]
    public void Diamond_of_exchanges_delivers_one_copy_to_each_queue()
    {
        _vhost.Exchange("top", ExchangeType.Fanout);
        _vhost.Exchange("left", ExchangeType.Fanout);
        _vhost.Exchange("right", ExchangeType.Fanout);
        _vhost.Exchange("bottom", ExchangeType.Fanout);
        _vhost.Queue("q1");
        _vhost.Queue("q2");
        _vhost.BindExchange("top", "left");
        _vhost.BindExchange("top", "right");
        _vhost.BindExchange("left", "bottom");
        _vhost.BindExchange("right", "bottom");
        _vhost.BindQueue("bottom", "q1");
        _vhost.BindQueue("bottom", "q2");
        _vhost.BindQueue("left", "q1");

        Assert.Equal(2, _vhost.Send("top", "k").Queues);
        Assert.Equal(1, _vhost.GetQueue("q1")!.MessagesReady);
        Assert.Equal(1, _vhost.GetQueue("q2")!.MessagesReady);
    }

    [Fact]
    public void Cycle_of_exchanges_terminates_and_delivers_once()
    {
        _vhost.Exchange("x1", ExchangeType.Fanout);
        _vhost.Exchange("x2", ExchangeType.Fanout);
        _vhost.Exchange("x3", ExchangeType.Fanout);
        var q = _vhost.Queue("q");
        _vhost.BindExchange("x1", "x2");
        _vhost.BindExchange("x2", "x3");
        _vhost.BindExchange("x3", "x1");
        _vhost.BindQueue("x2", "q");

        Assert.Equal(1, _vhost.Send("x1", "k").Queues);
        Assert.Equal(1, _vhost.Send("x3", "k").Queues);
        Assert.Equal(2, q.MessagesReady);
    }

    [Fact]
    public void Exchange_bound_to_itself_terminates()
    {
        _vhost.Exchange("x", ExchangeType.Fanout);
        _vhost.Queue("q");
        _vhost.BindExchange("x", "x");
        _vhost.BindQueue("x", "q");

        Assert.Equal(1, _vhost.Send("x", "k").Queues);
    }

    [Fact]
    public void Cycle_without_queues_routes_nowhere()
    {
        _vhost.Exchange("x1", ExchangeType.Fanout);
        _vhost.Exchange("x2", ExchangeType.Fanout);
        _vhost.BindExchange("x1", "x2");
        _vhost.BindExchange("x2", "x1");

        Assert.Equal(new PublishOutcome(PublishStatus.Ok, 0), _vhost.Send("x1", "k"));
    }

    [Fact]
    public void Internal_exchange_is_reachable_through_another_exchange()
    {
        _vhost.Exchange("public", ExchangeType.Fanout);
        _vhost.Exchange("internal", ExchangeType.Fanout, @internal: true);
        _vhost.Queue("q");
        _vhost.BindExchange("public", "internal");
        _vhost.BindQueue("internal", "q");

        Assert.Equal(1, _vhost.Send("public", "k").Queues);
        Assert.Equal(PublishStatus.ExchangeInternal, _vhost.Send("internal", "k").Status);
    }

    [Fact]
    public void Binding_to_a_missing_destination_exchange_is_refused()
    {
        _vhost.Exchange("x", ExchangeType.Fanout);

        Refused(BrokerError.NotFound, () => _vhost.BindExchange("x", "missing"));
        Refused(BrokerError.NotFound, () => _vhost.BindExchange("missing", "x"));
    }

    [Fact]
    public void Deleting_the_destination_exchange_removes_the_binding_to_it()
    {
        _vhost.Exchange("x1", ExchangeType.Fanout);
        _vhost.Exchange("x2", ExchangeType.Fanout);
        _vhost.BindExchange("x1", "x2");

        _vhost.DeleteExchange("x2");

        Assert.Empty(_vhost.ListBindings());
        Assert.Equal(0, _vhost.Send("x1", "k").Queues);
    }

    [Fact]
    public void Deleting_the_source_exchange_removes_its_outgoing_bindings()
    {
        _vhost.Exchange("x1", ExchangeType.Fanout);
        _vhost.Exchange("x2", ExchangeType.Fanout);
        _vhost.Queue("q");
        _vhost.BindExchange("x1", "x2");
        _vhost.BindQueue("x2", "q");

        _vhost.DeleteExchange("x1");

        var remaining = Assert.Single(_vhost.ListBindings());
        Assert.Equal("x2", remaining.Source);
        Assert.Equal(["q"], _vhost.Routes("x2", "k"));
    }
}
