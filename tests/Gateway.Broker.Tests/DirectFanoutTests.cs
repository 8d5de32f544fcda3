using Gateway.Broker.Exchanges;
using Gateway.Broker.Topology;

namespace Gateway.Broker.Tests;

public class DirectFanoutTests : IDisposable
{
    private readonly MessageBroker _broker = Fx.NewBroker();
    private readonly VirtualHost _vhost;

    public DirectFanoutTests() => _vhost = _broker.Default();

    public void Dispose() => _broker.Dispose();

    // ---------------------------------------------------------------- direct

    [Fact]
    public void Direct_exchange_routes_to_queues_bound_with_the_exact_routing_key()
    {
        _vhost.Exchange("d", ExchangeType.Direct);
        _vhost.Queue("q1");
        _vhost.Queue("q2");
        _vhost.BindQueue("d", "q1", "red");
        _vhost.BindQueue("d", "q2", "green");

        Assert.Equal(["q1"], _vhost.Routes("d", "red"));
        Assert.Equal(["q2"], _vhost.Routes("d", "green"));
        Assert.Empty(_vhost.Routes("d", "blue"));
    }

    [Fact]
    public void Direct_routing_key_comparison_is_exact_and_case_sensitive()
    {
        _vhost.Exchange("d", ExchangeType.Direct);
        _vhost.Queue("q");
        _vhost.BindQueue("d", "q", "Red");

        Assert.Empty(_vhost.Routes("d", "red"));
        Assert.Empty(_vhost.Routes("d", "Red "));
        Assert.Empty(_vhost.Routes("d", "Red.x"));
        Assert.Equal(["q"], _vhost.Routes("d", "Red"));
    }

    [Fact]
    public void Direct_exchange_routes_one_key_to_every_queue_bound_with_it()
    {
        _vhost.Exchange("d", ExchangeType.Direct);
        _vhost.Queue("q1");
        _vhost.Queue("q2");
        _vhost.BindQueue("d", "q1", "k");
        _vhost.BindQueue("d", "q2", "k");

        var outcome = _vhost.Send("d", "k", "m");

        Assert.Equal(new PublishOutcome(PublishStatus.Ok, 2), outcome);
        Assert.Equal(["m"], _vhost.GetQueue("q1")!.DrainTexts());
        Assert.Equal(["m"], _vhost.GetQueue("q2")!.DrainTexts());
    }

    [Fact]
    public void Direct_exchange_routes_the_empty_routing_key_to_a_binding_with_the_empty_key()
    {
        _vhost.Exchange("d", ExchangeType.Direct);
        _vhost.Queue("q");
        _vhost.BindQueue("d", "q", "");

        Assert.Equal(["q"], _vhost.Routes("d", ""));
        Assert.Empty(_vhost.Routes("d", "x"));
    }

    [Fact]
    public void Queue_bound_with_several_matching_bindings_receives_one_copy()
    {
        _vhost.Exchange("f", ExchangeType.Fanout);
        _vhost.Queue("q");
        _vhost.BindQueue("f", "q", "a");
        _vhost.BindQueue("f", "q", "b");

        Assert.Equal(1, _vhost.Send("f", "x", "m").Queues);
        Assert.Equal(["m"], _vhost.GetQueue("q")!.DrainTexts());
    }

    [Fact]
    public void Exchange_without_bindings_accepts_a_publish_that_reaches_no_queue()
    {
        _vhost.Exchange("d", ExchangeType.Direct);

        var outcome = _vhost.Send("d", "k");

        Assert.Equal(PublishStatus.Ok, outcome.Status);
        Assert.False(outcome.Routed);
    }

    // ---------------------------------------------------------------- fanout

    [Fact]
    public void Fanout_exchange_routes_to_every_bound_queue_whatever_the_key()
    {
        _vhost.Exchange("f", ExchangeType.Fanout);
        foreach (var q in new[] { "q1", "q2", "q3" })
        {
            _vhost.Queue(q);
            _vhost.BindQueue("f", q, "ignored-" + q);
        }

        Assert.Equal(["q1", "q2", "q3"], _vhost.Routes("f", "anything"));
        Assert.Equal(["q1", "q2", "q3"], _vhost.Routes("f", ""));
        Assert.Equal(3, _vhost.Send("f", "k", "m").Queues);
    }

    // ---------------------------------------------------------------- topic through the vhost

    [Fact]
    public void Topic_exchange_routes_by_pattern()
    {
        _vhost.Exchange("t", ExchangeType.Topic);
        _vhost.Queue("all");
        _vhost.Queue("eu");
        _vhost.BindQueue("t", "all", "#");
        _vhost.BindQueue("t", "eu", "*.eu.#");

        Assert.Equal(["all", "eu"], _vhost.Routes("t", "orders.eu.paris"));
        Assert.Equal(["all"], _vhost.Routes("t", "orders.us"));
        Assert.Equal(1, _vhost.Send("t", "orders.us").Queues);
    }

    [Fact]
    public void Predeclared_amq_exchanges_route_by_their_types()
    {
        _vhost.Queue("q");
        _vhost.BindQueue("amq.direct", "q", "k");
        _vhost.BindQueue("amq.topic", "q", "a.*");
        _vhost.BindQueue("amq.fanout", "q");

        Assert.Equal(["q"], _vhost.Routes("amq.direct", "k"));
        Assert.Empty(_vhost.Routes("amq.direct", "x"));
        Assert.Equal(["q"], _vhost.Routes("amq.topic", "a.b"));
        Assert.Empty(_vhost.Routes("amq.topic", "a.b.c"));
        Assert.Equal(["q"], _vhost.Routes("amq.fanout", "whatever"));
    }

    // ---------------------------------------------------------------- default exchange

    [Fact]
    public void Default_exchange_routes_to_the_queue_named_by_the_routing_key()
    {
        _vhost.Queue("orders");
        _vhost.Queue("invoices");

        Assert.Equal(1, _vhost.Send("", "orders", "m").Queues);
        Assert.Equal(["m"], _vhost.GetQueue("orders")!.DrainTexts());
        Assert.Equal(0, _vhost.GetQueue("invoices")!.MessagesReady);
    }

    [Fact]
    public void Default_exchange_routes_nowhere_when_no_queue_has_that_name()
    {
        var outcome = _vhost.Send("", "missing");

        Assert.Equal(new PublishOutcome(PublishStatus.Ok, 0), outcome);
    }

    [Fact]
    public void Default_exchange_stops_routing_to_a_deleted_queue()
    {
        _vhost.Queue("q");
        _vhost.DeleteQueue("q");

        Assert.Empty(_vhost.Routes("", "q"));
    }

    [Fact]
    public void Binding_the_default_exchange_explicitly_is_refused()
    {
        _vhost.Queue("q");
        _vhost.Exchange("x", ExchangeType.Fanout);

        Fx.Refused(BrokerError.AccessRefused, () => _vhost.BindQueue("", "q", "q"));
        Fx.Refused(BrokerError.AccessRefused, () => _vhost.BindExchange("", "x"));
        Fx.Refused(BrokerError.AccessRefused, () => _vhost.BindExchange("x", ""));
    }

    [Fact]
    public void Default_exchange_cannot_be_declared_or_deleted()
    {
        Fx.Refused(BrokerError.AccessRefused, () => _vhost.DeclareExchange(new ExchangeDefinition("", ExchangeType.Direct)));
        Fx.Refused(BrokerError.AccessRefused, () => _vhost.DeleteExchange(""));
        Assert.NotNull(_vhost.GetExchange(""));
    }

    // ---------------------------------------------------------------- publish outcomes

    [Fact]
    public void Publishing_to_a_missing_exchange_reports_ExchangeNotFound()
    {
        Assert.Equal(new PublishOutcome(PublishStatus.ExchangeNotFound, 0), _vhost.Send("nope", "k"));
    }

    [Fact]
    public void Publishing_to_an_internal_exchange_is_refused()
    {
        _vhost.Exchange("i", ExchangeType.Fanout, @internal: true);
        _vhost.Queue("q");
        _vhost.BindQueue("i", "q");

        Assert.Equal(new PublishOutcome(PublishStatus.ExchangeInternal, 0), _vhost.Send("i", "k"));
        Assert.Equal(0, _vhost.GetQueue("q")!.MessagesReady);
    }

    [Fact]
    public void Route_reports_the_queues_without_enqueueing()
    {
        _vhost.Queue("q");

        Assert.Equal(["q"], _vhost.Routes("", "q"));
        Assert.Equal(0, _vhost.GetQueue("q")!.MessagesReady);
        Assert.False(_vhost.Route("nope", "q", null, []));
    }

    [Fact]
    public void One_message_routed_to_several_queues_is_shared_not_copied()
    {
        _vhost.Exchange("f", ExchangeType.Fanout);
        var q1 = _vhost.Queue("q1");
        var q2 = _vhost.Queue("q2");
        _vhost.BindQueue("f", "q1");
        _vhost.BindQueue("f", "q2");

        _vhost.Publish("f", Fx.Msg("k", "body", exchange: "f"));

        Assert.Same(q1.TakeAll().Single().Message, q2.TakeAll().Single().Message);
    }
}
