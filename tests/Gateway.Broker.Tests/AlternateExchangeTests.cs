using Gateway.Broker.Exchanges;
using Gateway.Broker.Topology;
using static Gateway.Broker.Tests.Fx;

namespace Gateway.Broker.Tests;

public class AlternateExchangeTests : IDisposable
{
    private readonly MessageBroker _broker = NewBroker();
    private readonly VirtualHost _vhost;

    public AlternateExchangeTests()
    {
        _vhost = _broker.Default();
        _vhost.Exchange("ae", ExchangeType.Fanout);
        _vhost.Queue("unroutable");
        _vhost.BindQueue("ae", "unroutable");
    }

    public void Dispose() => _broker.Dispose();

    [Fact]
    public void Message_the_exchange_cannot_route_goes_to_its_alternate_exchange()
    {
        _vhost.Exchange("x", ExchangeType.Direct, alternate: "ae");
        _vhost.Queue("q");
        _vhost.BindQueue("x", "q", "known");

        Assert.Equal(1, _vhost.Send("x", "unknown", "m").Queues);
        Assert.Equal(["m"], _vhost.GetQueue("unroutable")!.DrainTexts());
        Assert.Equal(0, _vhost.GetQueue("q")!.MessagesReady);
    }

    [Fact]
    public void Routable_message_does_not_go_to_the_alternate_exchange()
    {
        _vhost.Exchange("x", ExchangeType.Direct, alternate: "ae");
        _vhost.Queue("q");
        _vhost.BindQueue("x", "q", "known");

        Assert.Equal(["q"], _vhost.Routes("x", "known"));
    }

    [Fact]
    public void Exchange_without_bindings_sends_everything_to_its_alternate_exchange()
    {
        _vhost.Exchange("x", ExchangeType.Topic, alternate: "ae");

        Assert.Equal(["unroutable"], _vhost.Routes("x", "any.key"));
    }

    [Fact]
    public void Alternate_exchange_is_not_used_when_a_binding_matches_an_exchange_that_routes_nowhere()
    {
        _vhost.Exchange("x", ExchangeType.Direct, alternate: "ae");
        _vhost.Exchange("sink", ExchangeType.Direct);
        _vhost.BindExchange("x", "sink", "k");

        Assert.Empty(_vhost.Routes("x", "k"));
        Assert.Equal(["unroutable"], _vhost.Routes("x", "other"));
    }

    [Fact]
    public void Downstream_exchange_that_matches_nothing_uses_its_own_alternate_exchange()
    {
        _vhost.Exchange("x", ExchangeType.Fanout);
        _vhost.Exchange("y", ExchangeType.Direct, alternate: "ae");
        _vhost.BindExchange("x", "y");

        Assert.Equal(["unroutable"], _vhost.Routes("x", "nothing-matches"));
    }

    [Fact]
    public void Alternate_exchange_matches_the_original_routing_key()
    {
        _vhost.Exchange("alt", ExchangeType.Direct);
        _vhost.Queue("alt-k");
        _vhost.BindQueue("alt", "alt-k", "k");
        _vhost.Exchange("x", ExchangeType.Direct, alternate: "alt");

        Assert.Equal(["alt-k"], _vhost.Routes("x", "k"));
        Assert.Empty(_vhost.Routes("x", "j"));
    }

    [Fact]
    public void Alternate_exchanges_chain()
    {
        _vhost.Exchange("ae2", ExchangeType.Direct, alternate: "ae");
        _vhost.Exchange("x", ExchangeType.Direct, alternate: "ae2");

        Assert.Equal(["unroutable"], _vhost.Routes("x", "k"));
    }

    [Fact]
    public void Cycle_of_alternate_exchanges_terminates()
    {
        _vhost.Exchange("a", ExchangeType.Direct, alternate: "b");
        _vhost.Exchange("b", ExchangeType.Direct, alternate: "a");

        Assert.Equal(new PublishOutcome(PublishStatus.Ok, 0), _vhost.Send("a", "k"));
    }

    [Fact]
    public void Exchange_that_is_its_own_alternate_terminates()
    {
        _vhost.Exchange("self", ExchangeType.Direct, alternate: "self");

        Assert.Equal(new PublishOutcome(PublishStatus.Ok, 0), _vhost.Send("self", "k"));
    }

    [Fact]
    public void Missing_alternate_exchange_is_skipped()
    {
        _vhost.Exchange("x", ExchangeType.Direct, alternate: "does-not-exist");

        Assert.Equal(new PublishOutcome(PublishStatus.Ok, 0), _vhost.Send("x", "k"));
    }

    [Fact]
    public void Alternate_exchange_may_be_internal()
    {
        _vhost.Exchange("hidden", ExchangeType.Fanout, @internal: true);
        _vhost.Queue("h");
        _vhost.BindQueue("hidden", "h");
        _vhost.Exchange("x", ExchangeType.Direct, alternate: "hidden");

        Assert.Equal(["h"], _vhost.Routes("x", "k"));
    }

    [Fact]
    public void Queue_reached_directly_and_through_the_alternate_path_receives_one_copy()
    {
        _vhost.Exchange("x", ExchangeType.Fanout);
        _vhost.Exchange("y", ExchangeType.Direct, alternate: "ae");
        _vhost.BindExchange("x", "y");
        _vhost.BindQueue("x", "unroutable");

        Assert.Equal(1, _vhost.Send("x", "k").Queues);
        Assert.Equal(1, _vhost.GetQueue("unroutable")!.MessagesReady);
    }

    [Fact]
    public void Alternate_exchange_argument_must_be_a_string()
    {
        var definition = new ExchangeDefinition("x", ExchangeType.Direct,
            Arguments: Table((ExchangeDefinition.AlternateExchangeArgument, 42L)));

        Refused(BrokerError.InvalidArgument, () => _vhost.DeclareExchange(definition));
        Assert.Null(_vhost.GetExchange("x"));
    }

    [Fact]
    public void Alternate_exchange_is_read_from_the_arguments()
    {
        var definition = new ExchangeDefinition("x", ExchangeType.Direct,
            Arguments: Table((ExchangeDefinition.AlternateExchangeArgument, "ae")));

        Assert.Equal("ae", definition.AlternateExchange);
        Assert.Null(new ExchangeDefinition("y", ExchangeType.Direct).AlternateExchange);
    }
}
