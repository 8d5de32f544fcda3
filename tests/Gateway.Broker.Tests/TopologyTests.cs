using Gateway.Broker.Exchanges;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using static Gateway.Broker.Tests.Fx;

namespace Gateway.Broker.Tests;

public class TopologyTests : IDisposable
{
    private readonly MessageBroker _broker = NewBroker();
    private readonly VirtualHost _vhost;

    public TopologyTests() => _vhost = _broker.Default();

    public void Dispose() => _broker.Dispose();

    // ---------------------------------------------------------------- exchange declaration

    [Fact]
    public void Declaring_a_new_exchange_creates_it()
    {
        var definition = new ExchangeDefinition("x", ExchangeType.Topic, Durable: false);

        Assert.Equal(DeclareOutcome.Created, _vhost.DeclareExchange(definition));
        Assert.Equal(definition, _vhost.GetExchange("x"));
    }

    [Fact]
    public void Redeclaring_an_exchange_with_the_same_definition_is_a_no_op()
    {
        var args = Table(("alternate-exchange", "ae"), ("n", 1L));
        _vhost.DeclareExchange(new ExchangeDefinition("x", ExchangeType.Direct, Arguments: args));

        var again = new ExchangeDefinition("x", ExchangeType.Direct, Arguments: Table(("n", 1L), ("alternate-exchange", "ae")));

        Assert.Equal(DeclareOutcome.Existed, _vhost.DeclareExchange(again));
    }

    [Theory]
    [InlineData("type")]
    [InlineData("durable")]
    [InlineData("autoDelete")]
    [InlineData("internal")]
    [InlineData("arguments")]
    [InlineData("argumentType")]
    public void Redeclaring_an_exchange_differently_is_a_conflict(string difference)
    {
        var original = new ExchangeDefinition("x", ExchangeType.Direct, Arguments: Table(("n", 1L)));
        _vhost.DeclareExchange(original);
        var changed = difference switch
        {
            "type" => original with { Type = ExchangeType.Fanout },
            "durable" => original with { Durable = false },
            "autoDelete" => original with { AutoDelete = true },
            "internal" => original with { Internal = true },
            "arguments" => original with { Arguments = Table(("n", 2L)) },
            _ => original with { Arguments = Table(("n", 1.0)) },
        };

        Refused(BrokerError.PreconditionFailed, () => _vhost.DeclareExchange(changed));
        Assert.Equal(original, _vhost.GetExchange("x"));
    }

    [Fact]
    public void Declaring_a_new_exchange_named_amq_dot_anything_is_refused()
    {
        Refused(BrokerError.AccessRefused, () => _vhost.DeclareExchange(new ExchangeDefinition("amq.custom", ExchangeType.Direct)));
        Assert.Null(_vhost.GetExchange("amq.custom"));
    }

    [Fact]
    public void Redeclaring_a_predeclared_exchange_as_it_is_is_allowed()
    {
        Assert.Equal(DeclareOutcome.Existed, _vhost.DeclareExchange(new ExchangeDefinition("amq.direct", ExchangeType.Direct)));
        Refused(BrokerError.PreconditionFailed, () => _vhost.DeclareExchange(new ExchangeDefinition("amq.direct", ExchangeType.Fanout)));
    }

    [Fact]
    public void Predeclared_exchanges_cannot_be_deleted()
    {
        foreach (var x in VirtualHost.PredeclaredExchanges)
            Refused(BrokerError.AccessRefused, () => _vhost.DeleteExchange(x.Name));
        Assert.Equal(VirtualHost.PredeclaredExchanges.Count + 1, _vhost.ListExchanges().Count);
    }

    [Fact]
    public void Exchanges_are_listed_by_name_with_the_default_and_predeclared_ones()
    {
        _vhost.Exchange("b", ExchangeType.Fanout);
        _vhost.Exchange("a", ExchangeType.Fanout);

        Assert.Equal(["", "a", "amq.direct", "amq.fanout", "amq.headers", "amq.match", "amq.topic", "b"],
            _vhost.ListExchanges().Select(x => x.Name));
    }

    [Fact]
    public void Deleting_a_missing_exchange_throws_NotFound()
    {
        Refused(BrokerError.NotFound, () => _vhost.DeleteExchange("missing"));
        Refused(BrokerError.NotFound, () => _vhost.DeleteExchange("amq.missing"));
    }

    [Fact]
    public void Deleting_an_exchange_removes_it_and_its_bindings()
    {
        _vhost.Exchange("x", ExchangeType.Fanout);
        _vhost.Queue("q");
        _vhost.BindQueue("x", "q");

        _vhost.DeleteExchange("x");

        Assert.Null(_vhost.GetExchange("x"));
        Assert.Empty(_vhost.ListBindings());
        Assert.Equal(PublishStatus.ExchangeNotFound, _vhost.Send("x", "k").Status);
    }

    [Fact]
    public void Deleting_an_exchange_if_unused_fails_while_it_has_bindings()
    {
        _vhost.Exchange("x", ExchangeType.Fanout);
        _vhost.Queue("q");
        var binding = _vhost.BindQueue("x", "q");

        Refused(BrokerError.PreconditionFailed, () => _vhost.DeleteExchange("x", ifUnused: true));
        _vhost.Unbind(binding.Id);
        _vhost.DeleteExchange("x", ifUnused: true);

        Assert.Null(_vhost.GetExchange("x"));
    }

    [Fact]
    public void Exchange_that_is_only_a_binding_destination_counts_as_unused()
    {
        _vhost.Exchange("src", ExchangeType.Fanout);
        _vhost.Exchange("dst", ExchangeType.Fanout);
        _vhost.BindExchange("src", "dst");

        _vhost.DeleteExchange("dst", ifUnused: true);

        Assert.Null(_vhost.GetExchange("dst"));
    }

    // ---------------------------------------------------------------- auto-delete exchanges

    [Fact]
    public void Auto_delete_exchange_is_deleted_when_its_last_binding_is_removed()
    {
        _vhost.Exchange("x", ExchangeType.Fanout, autoDelete: true);
        _vhost.Queue("q1");
        _vhost.Queue("q2");
        var b1 = _vhost.BindQueue("x", "q1");
        var b2 = _vhost.BindQueue("x", "q2");

        _vhost.Unbind(b1.Id);
        Assert.NotNull(_vhost.GetExchange("x"));
        _vhost.Unbind(b2.Id);
        Assert.Null(_vhost.GetExchange("x"));
    }

    [Fact]
    public void Auto_delete_exchange_that_never_had_a_binding_stays()
    {
        _vhost.Exchange("x", ExchangeType.Fanout, autoDelete: true);

        Assert.NotNull(_vhost.GetExchange("x"));
    }

    [Fact]
    public void Deleting_the_last_bound_queue_deletes_an_auto_delete_exchange()
    {
        _vhost.Exchange("x", ExchangeType.Fanout, autoDelete: true);
        _vhost.Queue("q");
        _vhost.BindQueue("x", "q");

        _vhost.DeleteQueue("q");

        Assert.Null(_vhost.GetExchange("x"));
    }

    [Fact]
    public void Auto_delete_cascades_through_exchange_to_exchange_bindings()
    {
        _vhost.Exchange("x1", ExchangeType.Fanout, autoDelete: true);
        _vhost.Exchange("x2", ExchangeType.Fanout, autoDelete: true);
        _vhost.Exchange("keep", ExchangeType.Fanout);
        _vhost.Queue("q");
        _vhost.BindExchange("x1", "x2");
        _vhost.BindExchange("keep", "x2");
        _vhost.BindQueue("x2", "q");

        _vhost.DeleteQueue("q");

        Assert.Null(_vhost.GetExchange("x2"));
        Assert.Null(_vhost.GetExchange("x1"));
        Assert.NotNull(_vhost.GetExchange("keep"));
        Assert.Empty(_vhost.ListBindings());
    }

    [Fact]
    public void Deleting_an_exchange_cascades_to_auto_delete_sources_left_without_bindings()
    {
        _vhost.Exchange("src", ExchangeType.Fanout, autoDelete: true);
        _vhost.Exchange("dst", ExchangeType.Fanout);
        _vhost.BindExchange("src", "dst");

        _vhost.DeleteExchange("dst");

        Assert.Null(_vhost.GetExchange("src"));
    }

    // ---------------------------------------------------------------- queues

    [Fact]
    public void Redeclaring_a_queue_with_the_same_definition_returns_the_same_queue()
    {
        var (first, created) = _vhost.DeclareQueue(new QueueDefinition("q", Arguments: Table(("x-max-length", 10L))));
        var (second, existed) = _vhost.DeclareQueue(new QueueDefinition("q", Arguments: Table(("x-max-length", 10L))));

        Assert.Equal(DeclareOutcome.Created, created);
        Assert.Equal(DeclareOutcome.Existed, existed);
        Assert.Same(first, second);
    }

    [Theory]
    [InlineData("durable")]
    [InlineData("exclusive")]
    [InlineData("autoDelete")]
    [InlineData("arguments")]
    public void Redeclaring_a_queue_differently_is_a_conflict(string difference)
    {
        var original = new QueueDefinition("q", Arguments: Table(("x-max-length", 10L)));
        var queue = _vhost.DeclareQueue(original).Queue;
        var changed = difference switch
        {
            "durable" => original with { Durable = false },
            "exclusive" => original with { Exclusive = true },
            "autoDelete" => original with { AutoDelete = true },
            _ => original with { Arguments = Table(("x-max-length", 11L)) },
        };

        Refused(BrokerError.PreconditionFailed, () => _vhost.DeclareQueue(changed, owner: new object()));
        Assert.Same(queue, _vhost.GetQueue("q"));
    }

    // ---------------------------------------------------------------- exclusive queues

    [Fact]
    public void An_exclusive_queue_needs_a_connection_to_own_it()
    {
        Refused(BrokerError.InvalidArgument, () => _vhost.DeclareQueue(new QueueDefinition("x", Exclusive: true)));
        Assert.Null(_vhost.GetQueue("x"));
    }

    [Fact]
    public void An_exclusive_queue_is_its_owners_alone()
    {
        var owner = new object();
        var queue = _vhost.DeclareQueue(new QueueDefinition("x", Durable: false, Exclusive: true), owner).Queue;

        Assert.Equal(DeclareOutcome.Existed, _vhost.DeclareQueue(new QueueDefinition("x", Durable: false, Exclusive: true), owner).Outcome);
        Refused(BrokerError.ResourceLocked, () => _vhost.DeclareQueue(new QueueDefinition("x", Durable: false, Exclusive: true), new object()));
        Refused(BrokerError.ResourceLocked, () => queue.RequireAccess(null));
        Refused(BrokerError.ResourceLocked, () => queue.RequireAccess(new object()));
        queue.RequireAccess(owner);
    }

    [Fact]
    public void Others_may_publish_to_an_exclusive_queue()
    {
        var queue = _vhost.DeclareQueue(new QueueDefinition("x", Durable: false, Exclusive: true), new object()).Queue;

        Assert.Equal(1, _vhost.Send("", "x", "m").Queues);
        Assert.Equal(1, queue.MessagesReady);
    }

    [Fact]
    public void A_closed_connection_takes_its_exclusive_queues_and_nothing_else()
    {
        var owner = new object();
        _vhost.DeclareQueue(new QueueDefinition("mine", Durable: false, Exclusive: true), owner);
        _vhost.DeclareQueue(new QueueDefinition("theirs", Durable: false, Exclusive: true), new object());
        _vhost.Queue("shared");

        _vhost.DeleteExclusiveQueues(owner);

        Assert.Null(_vhost.GetQueue("mine"));
        Assert.NotNull(_vhost.GetQueue("theirs"));
        Assert.NotNull(_vhost.GetQueue("shared"));
    }

    [Fact]
    public void Declaring_a_queue_named_amq_dot_anything_is_refused()
    {
        Refused(BrokerError.AccessRefused, () => _vhost.DeclareQueue(new QueueDefinition("amq.q")));
        Assert.Null(_vhost.GetQueue("amq.q"));
    }

    [Fact]
    public void Server_named_queue_gets_a_unique_amq_gen_name()
    {
        var a = _vhost.DeclareServerNamedQueue(new QueueDefinition("", Durable: false, Exclusive: true), owner: this);
        var b = _vhost.DeclareServerNamedQueue(new QueueDefinition("", Durable: false, Exclusive: true), owner: this);

        Assert.StartsWith("amq.gen-", a.Name);
        Assert.Equal("amq.gen-".Length + 22, a.Name.Length);
        Assert.Null(Names.Validate(a.Name));
        Assert.NotEqual(a.Name, b.Name);
        Assert.Same(a, _vhost.GetQueue(a.Name));
        Assert.True(a.Definition.Exclusive);
    }

    [Fact]
    public void Server_named_queue_is_reachable_through_the_default_exchange()
    {
        var q = _vhost.DeclareServerNamedQueue(new QueueDefinition(""));

        Assert.Equal(1, _vhost.Send("", q.Name, "m").Queues);
        Assert.Equal(["m"], q.DrainTexts());
    }

    [Fact]
    public void Queues_are_listed_by_name()
    {
        _vhost.Queue("b");
        _vhost.Queue("a");
        _vhost.Queue("c");

        Assert.Equal(["a", "b", "c"], _vhost.ListQueues().Select(q => q.Name));
    }

    [Fact]
    public void Deleting_a_queue_returns_how_many_messages_it_held()
    {
        var q = _vhost.Queue("q");
        _vhost.Send("", "q");
        _vhost.Send("", "q");
        _vhost.Send("", "q");
        q.Take(1, Lease);

        Assert.Equal(3, _vhost.DeleteQueue("q"));
        Assert.True(q.IsDeleted);
        Assert.Null(_vhost.GetQueue("q"));
    }

    [Fact]
    public void Deleting_a_missing_queue_throws_NotFound()
    {
        Refused(BrokerError.NotFound, () => _vhost.DeleteQueue("missing"));
    }

    [Fact]
    public void Deleting_a_queue_if_unused_fails_while_it_has_a_consumer()
    {
        var q = _vhost.Queue("q");
        var consumer = q.Subscribe(1);

        Refused(BrokerError.PreconditionFailed, () => _vhost.DeleteQueue("q", ifUnused: true));
        q.Cancel(consumer);
        _vhost.DeleteQueue("q", ifUnused: true);

        Assert.Null(_vhost.GetQueue("q"));
    }

    [Fact]
    public void Deleting_a_queue_if_empty_fails_while_it_has_ready_messages()
    {
        var q = _vhost.Queue("q");
        _vhost.Send("", "q");

        Refused(BrokerError.PreconditionFailed, () => _vhost.DeleteQueue("q", ifEmpty: true));
        q.Purge();
        _vhost.DeleteQueue("q", ifEmpty: true);

        Assert.Null(_vhost.GetQueue("q"));
    }

    [Fact]
    public void Deleting_a_queue_removes_every_binding_to_it()
    {
        _vhost.Exchange("d", ExchangeType.Direct);
        _vhost.Exchange("t", ExchangeType.Topic);
        _vhost.Queue("q");
        _vhost.Queue("other");
        _vhost.BindQueue("d", "q", "a");
        _vhost.BindQueue("d", "q", "b");
        _vhost.BindQueue("t", "q", "#");
        _vhost.BindQueue("d", "other", "a");

        _vhost.DeleteQueue("q");

        var remaining = Assert.Single(_vhost.ListBindings());
        Assert.Equal("other", remaining.Destination);
        Assert.Equal(["other"], _vhost.Routes("d", "a"));
        Assert.Empty(_vhost.Routes("d", "b"));
    }

    [Fact]
    public void Redeclared_queue_after_deletion_is_a_new_empty_queue()
    {
        var old = _vhost.Queue("q");
        _vhost.Send("", "q");
        _vhost.DeleteQueue("q");

        var fresh = _vhost.Queue("q");

        Assert.NotSame(old, fresh);
        Assert.Equal(0, fresh.MessagesReady);
        Assert.NotEqual(old.Incarnation, fresh.Incarnation);
    }

    [Fact]
    public void Publishing_after_a_queue_is_deleted_does_not_reach_it()
    {
        _vhost.Exchange("f", ExchangeType.Fanout);
        var q = _vhost.Queue("q");
        _vhost.BindQueue("f", "q");
        _vhost.DeleteQueue("q");

        Assert.Equal(0, _vhost.Send("f", "k").Queues);
        Assert.Equal(0, q.MessagesReady);
    }

    // ---------------------------------------------------------------- bindings

    [Fact]
    public void Binding_the_same_definition_twice_returns_the_existing_binding()
    {
        _vhost.Exchange("x", ExchangeType.Direct);
        _vhost.Queue("q");

        var first = _vhost.Bind(new Binding("x", "q", BindingDestinationType.Queue, "k", Table(("a", 1L))));
        var second = _vhost.Bind(new Binding("x", "q", BindingDestinationType.Queue, "k", Table(("a", 1L))));

        Assert.Equal(DeclareOutcome.Created, first.Outcome);
        Assert.Equal(DeclareOutcome.Existed, second.Outcome);
        Assert.Same(first.Binding, second.Binding);
        Assert.Single(_vhost.ListBindings());
    }

    [Fact]
    public void Binding_id_is_derived_from_the_definition_alone()
    {
        var a = new Binding("x", "q", BindingDestinationType.Queue, "k", Table(("a", 1L), ("b", "s")));
        var b = new Binding("x", "q", BindingDestinationType.Queue, "k", Table(("b", "s"), ("a", 1L)));

        Assert.Equal(a.Id, b.Id);
        Assert.Equal(16, a.Id.Length);
        Assert.Matches("^[A-Za-z0-9_-]{16}$", a.Id);
    }

    [Fact]
    public void Binding_id_is_the_same_in_every_broker()
    {
        using var other = NewBroker();
        _vhost.Exchange("x", ExchangeType.Direct);
        _vhost.Queue("q");
        other.Default().Exchange("x", ExchangeType.Direct);
        other.Default().Queue("q");

        var here = _vhost.BindQueue("x", "q", "k");
        var there = other.Default().BindQueue("x", "q", "k");

        Assert.Equal(here.Id, there.Id);
    }

    [Fact]
    public void Binding_ids_differ_when_any_part_of_the_definition_differs()
    {
        var ids = new[]
        {
            new Binding("x", "q", BindingDestinationType.Queue, "k", null).Id,
            new Binding("y", "q", BindingDestinationType.Queue, "k", null).Id,
            new Binding("x", "r", BindingDestinationType.Queue, "k", null).Id,
            new Binding("x", "q", BindingDestinationType.Exchange, "k", null).Id,
            new Binding("x", "q", BindingDestinationType.Queue, "j", null).Id,
            new Binding("x", "q", BindingDestinationType.Queue, "k", Table(("a", 1L))).Id,
            new Binding("x", "q", BindingDestinationType.Queue, "k", Table(("a", 1.0))).Id,
            new Binding("x", "q", BindingDestinationType.Queue, "k", Table(("a", "1"))).Id,
            // Length-prefixed parts: moving a separator between fields changes the id.
            new Binding("x|q", "", BindingDestinationType.Queue, "k", null).Id,
        };

        Assert.Equal(ids.Length, ids.Distinct().Count());
    }

    [Fact]
    public void Empty_and_missing_binding_arguments_are_the_same_binding()
    {
        Assert.Equal(new Binding("x", "q", BindingDestinationType.Queue, "k", null).Id,
            new Binding("x", "q", BindingDestinationType.Queue, "k", Table()).Id);
    }

    [Fact]
    public void Binding_can_be_found_by_id_and_removed_by_id()
    {
        _vhost.Exchange("x", ExchangeType.Direct);
        _vhost.Queue("q");
        var binding = _vhost.BindQueue("x", "q", "k");

        Assert.Same(binding, _vhost.GetBinding(binding.Id));
        _vhost.Unbind(binding.Id);

        Assert.Null(_vhost.GetBinding(binding.Id));
        Assert.Empty(_vhost.Routes("x", "k"));
    }

    [Fact]
    public void Unbinding_an_unknown_id_throws_NotFound()
    {
        Refused(BrokerError.NotFound, () => _vhost.Unbind("AAAAAAAAAAAAAAAA"));
    }

    [Fact]
    public void Binding_from_a_missing_exchange_or_to_a_missing_queue_throws_NotFound()
    {
        _vhost.Exchange("x", ExchangeType.Direct);
        _vhost.Queue("q");

        Refused(BrokerError.NotFound, () => _vhost.BindQueue("missing", "q"));
        Refused(BrokerError.NotFound, () => _vhost.BindQueue("x", "missing"));
        Assert.Empty(_vhost.ListBindings());
    }

    [Fact]
    public void Bindings_are_listed_by_source_destination_and_key()
    {
        _vhost.Exchange("b", ExchangeType.Direct);
        _vhost.Exchange("a", ExchangeType.Direct);
        _vhost.Queue("q2");
        _vhost.Queue("q1");
        _vhost.BindQueue("b", "q1", "k");
        _vhost.BindQueue("a", "q2", "k");
        _vhost.BindQueue("a", "q1", "z");
        _vhost.BindQueue("a", "q1", "k");

        Assert.Equal(["a>q1:k", "a>q1:z", "a>q2:k", "b>q1:k"],
            _vhost.ListBindings().Select(b => $"{b.Source}>{b.Destination}:{b.RoutingKey}"));
    }

    [Fact]
    public void New_binding_takes_effect_for_the_next_publish()
    {
        _vhost.Exchange("x", ExchangeType.Direct);
        _vhost.Queue("q");
        Assert.Equal(0, _vhost.Send("x", "k").Queues);

        _vhost.BindQueue("x", "q", "k");

        Assert.Equal(1, _vhost.Send("x", "k").Queues);
    }

    [Fact]
    public async Task Publishing_concurrently_with_topology_changes_never_fails()
    {
        _vhost.Exchange("t", ExchangeType.Topic);
        _vhost.Queue("stable");
        _vhost.BindQueue("t", "stable", "#");
        using var stop = new CancellationTokenSource();

        var publisher = Task.Run(() =>
        {
            var published = 0;
            while (!stop.IsCancellationRequested)
            {
                var outcome = _vhost.Send("t", "a.b");
                Assert.Equal(PublishStatus.Ok, outcome.Status);
                Assert.True(outcome.Queues >= 1);
                published++;
            }
            return published;
        });
        for (var i = 0; i < 300; i++)
        {
            var name = $"q{i % 3}";
            _vhost.Queue(name);
            var b1 = _vhost.BindQueue("t", name, "a.*");
            _vhost.BindQueue("t", name, "#.b");
            _vhost.Unbind(b1.Id);
            _vhost.DeleteQueue(name);
        }
        await stop.CancelAsync();
        var count = await publisher.WaitAsync(Safety);

        Assert.Equal(count, _vhost.GetQueue("stable")!.MessagesReady);
        Assert.Equal(["stable"], _vhost.ListQueues().Select(q => q.Name));
        Assert.Single(_vhost.ListBindings());
    }

    [Theory]
    [InlineData("direct", ExchangeType.Direct)]
    [InlineData("fanout", ExchangeType.Fanout)]
    [InlineData("topic", ExchangeType.Topic)]
    [InlineData("headers", ExchangeType.Headers)]
    public void Exchange_type_names_round_trip(string name, ExchangeType type)
    {
        Assert.True(ExchangeTypes.TryParse(name, out var parsed));
        Assert.Equal(type, parsed);
        Assert.Equal(name, type.ToName());
    }

    [Theory]
    [InlineData("Direct")]
    [InlineData("x-delayed-message")]
    [InlineData("")]
    [InlineData(null)]
    public void Unknown_exchange_type_names_are_not_parsed(string? name)
    {
        Assert.False(ExchangeTypes.TryParse(name, out _));
    }
}
