using System.Text.Json;
using Gateway.Broker;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using Gateway.Testing;

namespace Gateway.RabbitMq.Tests;

/// <summary>Topology 1:1 on RabbitMQ: exchanges, queues with their arguments, bindings, vhosts.</summary>
[Collection(RabbitMqClusterFixture.Collection)]
public sealed class BackendTopologyTests(RabbitMqClusterFixture fixture) : BackendTestBase(fixture)
{
    [Fact]
    public async Task Every_exchange_type_is_declared_once_redeclared_as_existed_and_a_different_definition_is_refused()
    {
        foreach (var type in Enum.GetValues<ExchangeType>())
        {
            var name = Unique("x." + type);
            var definition = new ExchangeDefinition(name, type, Durable: true);
            Assert.Equal(DeclareOutcome.Created, await Vhost.DeclareExchangeAsync(definition));
            Assert.Equal(DeclareOutcome.Existed, await Vhost.DeclareExchangeAsync(definition));
            var e = await Assert.ThrowsAsync<BrokerException>(async () => await Vhost.DeclareExchangeAsync(definition with { Durable = false }));
            Assert.Equal(BrokerError.PreconditionFailed, e.Error);
            Assert.Equal(definition, (await Vhost.GetExchangeAsync(name))!.Definition with { Arguments = null });
            await Vhost.DeleteExchangeAsync(name);
            Assert.Null(await Vhost.GetExchangeAsync(name));
        }
    }

    [Fact]
    public async Task Argument_numbers_read_back_as_they_were_declared_a_double_as_a_double_and_an_integer_as_an_integer()
    {
        var name = Unique("x.numbers");
        var arguments = new Dictionary<string, object?>
        {
            ["d"] = 1.0, ["l"] = 1L, ["f"] = 2.5, ["list"] = new List<object?> { 1L, 3.0 }, ["t"] = new Dictionary<string, object?> { ["k"] = 4.0 },
        };
        await Vhost.DeclareExchangeAsync(new ExchangeDefinition(name, ExchangeType.Headers, Arguments: arguments));
        foreach (var read in new[] { (await Vhost.GetExchangeAsync(name))!, (await Vhost.ListExchangesAsync()).Single(x => x.Definition.Name == name) })
        {
            var args = read.Definition.Arguments!;
            Assert.Equal("d=1:Double l=1:Int64 f=2.5:Double", string.Join(" ", new[] { "d", "l", "f" }.Select(k => $"{k}={args[k]}:{args[k]!.GetType().Name}")));
            Assert.Equal(1.0, Assert.IsType<double>(args["d"]));
            Assert.Equal(1L, Assert.IsType<long>(args["l"]));
            Assert.Equal(2.5, Assert.IsType<double>(args["f"]));
            var list = Assert.IsType<List<object?>>(args["list"]);
            Assert.IsType<long>(list[0]);
            Assert.Equal(3.0, Assert.IsType<double>(list[1]));
            Assert.Equal(4.0, Assert.IsType<double>(Assert.IsType<Dictionary<string, object?>>(args["t"])["k"]));
        }
        await Vhost.DeleteExchangeAsync(name);
    }

    [Fact]
    public async Task The_default_and_predeclared_exchanges_are_listed_as_the_embedded_engine_names_them_and_cannot_be_deleted()
    {
        var names = (await Vhost.ListExchangesAsync()).Select(x => x.Definition.Name).ToList();
        Assert.Equal(["", .. VirtualHost.PredeclaredExchanges.Select(x => x.Name).Order(StringComparer.Ordinal)], names.Where(n => n.Length == 0 || n.StartsWith("amq.")).ToList());
        Assert.Equal(BrokerError.AccessRefused, (await Assert.ThrowsAsync<BrokerException>(async () => await Vhost.DeleteExchangeAsync("amq.topic"))).Error);
        Assert.Equal(BrokerError.AccessRefused, (await Assert.ThrowsAsync<BrokerException>(async () => await Vhost.DeclareExchangeAsync(new ExchangeDefinition("amq.mine", ExchangeType.Direct)))).Error);
        Assert.Equal(BrokerError.NotFound, (await Assert.ThrowsAsync<BrokerException>(async () => await Vhost.DeleteExchangeAsync(Unique("missing")))).Error);
    }

    [Fact]
    public async Task A_durable_queue_is_a_quorum_queue_with_its_arguments_and_a_transient_one_is_classic()
    {
        var name = Unique("q.args");
        var args = new Dictionary<string, object?>
        {
            ["x-message-ttl"] = 60000L, ["x-max-length"] = 10L, ["x-overflow"] = "reject-publish", ["x-dead-letter-exchange"] = "amq.fanout",
            ["x-delivery-limit"] = 3L, ["x-single-active-consumer"] = true, ["x-expires"] = 600000L, ["x-max-length-bytes"] = 100000L,
        };
        var definition = new QueueDefinition(name, Durable: true, Arguments: args);
        var (queue, outcome) = await Vhost.DeclareQueueAsync(definition);
        Assert.Equal(DeclareOutcome.Created, outcome);
        Assert.Equal(DeclareOutcome.Existed, (await Vhost.DeclareQueueAsync(definition)).Outcome);
        var conflict = await Assert.ThrowsAsync<BrokerException>(async () => await Vhost.DeclareQueueAsync(definition with { Arguments = null }));
        Assert.Equal(BrokerError.PreconditionFailed, conflict.Error);

        var replicas = await Cluster.GetQueueLeaderAsync("/", name);
        Assert.Equal(3, replicas.Members.Count);   // quorum: a member on every node
        var listed = (await Vhost.ListQueuesAsync()).Single(q => q.Definition.Name == name);
        Assert.True(listed.Definition.IsEquivalentTo(definition), HeaderValues(listed.Definition));
        Assert.True((await Vhost.GetQueueAsync(name))!.Definition.IsEquivalentTo(definition));

        var transient = Unique("q.transient");
        await Vhost.DeclareQueueAsync(new QueueDefinition(transient, Durable: false));
        Assert.Empty((await Cluster.GetQueueLeaderAsync("/", transient)).Members);   // classic: no members
        await Vhost.DeleteQueueAsync(transient);
        await Vhost.DeleteQueueAsync(name);
        Assert.Null(await Vhost.GetQueueAsync(name));
    }

    private static string HeaderValues(QueueDefinition d) => Gateway.Broker.Messages.HeaderValues.Canonical(d.Arguments);

    [Fact]
    public async Task Priorities_are_refused_on_a_quorum_queue_naming_the_backend_and_kept_on_a_classic_one()
    {
        var e = await Assert.ThrowsAsync<BrokerException>(async () =>
            await Vhost.DeclareQueueAsync(new QueueDefinition(Unique("q.prio"), Arguments: new Dictionary<string, object?> { ["x-max-priority"] = 5L })));
        Assert.Equal(BrokerError.InvalidArgument, e.Error);
        Assert.Contains("RabbitMq", e.Message);
        var classic = Unique("q.prio");
        var (q, _) = await Vhost.DeclareQueueAsync(new QueueDefinition(classic, Arguments: new Dictionary<string, object?> { ["x-max-priority"] = 5L, ["x-queue-type"] = "classic" }));
        Assert.Equal(5L, q.Definition.Arguments!["x-max-priority"]);
        await Vhost.DeleteQueueAsync(classic);
    }

    [Fact]
    public async Task Deleting_a_queue_maps_ifEmpty_to_a_precondition_and_a_missing_queue_to_not_found()
    {
        var name = Unique("q.del");
        var queue = await QueueAsync(name, durable: false);
        await Vhost.PublishAsync("", Text(name, "x"));
        Assert.Equal(BrokerError.PreconditionFailed,
            (await Assert.ThrowsAsync<BrokerException>(async () => await Vhost.DeleteQueueAsync(name, ifEmpty: true))).Error);
        Assert.Equal(1, await Vhost.DeleteQueueAsync(name));
        Assert.Equal(BrokerError.NotFound, (await Assert.ThrowsAsync<BrokerException>(async () => await Vhost.DeleteQueueAsync(name))).Error);
    }

    [Fact]
    public async Task Bindings_route_end_to_end_through_topic_headers_and_exchange_to_exchange_and_are_found_and_removed_by_id()
    {
        var topic = Unique("x.topic");
        var headers = Unique("x.headers");
        var queue = Unique("q.bound");
        await Vhost.DeclareExchangeAsync(new ExchangeDefinition(topic, ExchangeType.Topic, Durable: false));
        await Vhost.DeclareExchangeAsync(new ExchangeDefinition(headers, ExchangeType.Headers, Durable: false));
        var q = await QueueAsync(queue, durable: false);
        var byTopic = new Binding(topic, queue, BindingDestinationType.Queue, "a.*.c", null);
        var e2e = new Binding(headers, topic, BindingDestinationType.Exchange, "", new Dictionary<string, object?> { ["x-match"] = "all", ["kind"] = "k" });
        Assert.Equal(DeclareOutcome.Created, (await Vhost.BindAsync(byTopic)).Outcome);
        Assert.Equal(DeclareOutcome.Existed, (await Vhost.BindAsync(byTopic)).Outcome);
        await Vhost.BindAsync(e2e);

        Assert.Equal(1, (await Vhost.PublishAsync(topic, Text("a.b.c", "1", exchange: topic))).Queues);
        Assert.Equal(0, (await Vhost.PublishAsync(topic, Text("a.b", "2", exchange: topic))).Queues);
        var kind = new Gateway.Broker.Messages.MessageProperties { Headers = new Dictionary<string, object?> { ["kind"] = "k" } };
        Assert.Equal(1, (await Vhost.PublishAsync(headers, Text("a.x.c", "3", kind, headers))).Queues);
        Assert.Equal(2, await ReadyAsync(q, 2));

        Assert.Equal(byTopic, await Vhost.GetBindingAsync(byTopic.Id));
        Assert.Equal(e2e.Id, (await Vhost.GetBindingAsync(e2e.Id))!.Id);
        await Vhost.UnbindAsync(byTopic.Id);
        Assert.Null(await Vhost.GetBindingAsync(byTopic.Id));
        Assert.Equal(0, (await Vhost.PublishAsync(topic, Text("a.b.c", "4", exchange: topic))).Queues);
        Assert.Equal(BrokerError.NotFound, (await Assert.ThrowsAsync<BrokerException>(async () => await Vhost.UnbindAsync(byTopic.Id))).Error);
        Assert.Equal(BrokerError.NotFound, (await Assert.ThrowsAsync<BrokerException>(async () =>
            await Vhost.BindAsync(new Binding(topic, Unique("q.none"), BindingDestinationType.Queue, "", null)))).Error);
        await Vhost.DeleteQueueAsync(queue);
        await Vhost.DeleteExchangeAsync(headers);
        await Vhost.DeleteExchangeAsync(topic);
    }

    [Fact]
    public async Task Unroutable_messages_go_to_the_alternate_exchange_and_an_internal_exchange_cannot_be_published_to()
    {
        var main = Unique("x.main");
        var alternate = Unique("x.ae");
        var queue = Unique("q.ae");
        await Vhost.DeclareExchangeAsync(new ExchangeDefinition(alternate, ExchangeType.Fanout, Durable: false, Internal: true));
        await Vhost.DeclareExchangeAsync(new ExchangeDefinition(main, ExchangeType.Direct, Durable: false,
            Arguments: new Dictionary<string, object?> { ["alternate-exchange"] = alternate }));
        Assert.True((await Vhost.GetExchangeAsync(alternate))!.Definition.Internal);
        var q = await QueueAsync(queue, durable: false);
        await Vhost.BindAsync(new Binding(alternate, queue, BindingDestinationType.Queue, "", null));

        Assert.Equal(1, (await Vhost.PublishAsync(main, Text("nobody", "x", exchange: main))).Queues);
        Assert.Equal(1, await ReadyAsync(q, 1));
        Assert.Equal(PublishStatus.ExchangeInternal, (await Vhost.PublishAsync(alternate, Text("", "y", exchange: alternate))).Status);
        await Vhost.DeleteQueueAsync(queue);
        await Vhost.DeleteExchangeAsync(main);
        await Vhost.DeleteExchangeAsync(alternate);
    }

    [Fact]
    public async Task The_default_vhost_is_rabbitmqs_slash_and_other_vhosts_are_created_with_permissions_and_deleted()
    {
        var vhosts = await Broker.ListVhostsAsync();
        Assert.Contains("default", vhosts);
        Assert.DoesNotContain("/", vhosts);
        var queue = Unique("q.slash");
        await QueueAsync(queue, durable: false);
        Assert.NotNull((await Cluster.GetQueueLeaderAsync("/", queue)).Leader);
        await Vhost.DeleteQueueAsync(queue);

        var name = Unique("vh");
        Assert.True(await Broker.CreateVhostAsync(name));
        Assert.False(await Broker.CreateVhostAsync(name));
        var vhost = (await Broker.GetVhostAsync(name))!;
        var (q, _) = await vhost.DeclareQueueAsync(new QueueDefinition("q1"));
        Assert.Equal(1, (await vhost.PublishAsync("", Text("q1", "in another vhost"))).Queues);
        Assert.Contains(name, await Broker.ListVhostsAsync());
        await Broker.DeleteVhostAsync(name);
        Assert.Null(await Broker.GetVhostAsync(name));
        Assert.Equal(BrokerError.AccessRefused, (await Assert.ThrowsAsync<BrokerException>(async () => await Broker.DeleteVhostAsync("default"))).Error);
    }

    [Fact]
    public async Task A_vhost_deleted_through_another_node_is_gone_here_although_this_node_had_published_to_it()
    {
        var name = Unique("vh.gone");
        Assert.True(await Broker.CreateVhostAsync(name));
        var vhost = (await Broker.GetVhostAsync(name))!;
        await vhost.DeclareQueueAsync(new QueueDefinition("q1"));
        Assert.Equal(1, (await vhost.PublishAsync("", Text("q1", "over an open connection"))).Queues);
        Assert.NotNull(await Broker.GetVhostAsync(name)); // answered from the open connection

        await using (var other = new RabbitMqBroker(DefaultOptions()))
            await other.DeleteVhostAsync(name);

        // RabbitMQ closes the vhost's connections as it deletes it; this node then asks the management API again.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (await Broker.GetVhostAsync(name) is not null) await Task.Delay(20, cts.Token);
        Assert.DoesNotContain(name, await Broker.ListVhostsAsync());
    }

    [Fact]
    public async Task An_exclusive_queue_belongs_to_its_owner_and_goes_with_it()
    {
        var owner = new object();
        var name = Unique("q.excl");
        var (queue, _) = await Vhost.DeclareQueueAsync(new QueueDefinition(name, Durable: false, Exclusive: true), owner);
        queue.RequireAccess(owner);
        var looked = (await Vhost.GetQueueAsync(name))!;
        Assert.True(looked.Definition.Exclusive);
        Assert.Null(looked.Definition.Arguments);
        Assert.Equal(BrokerError.ResourceLocked, Assert.Throws<BrokerException>(() => looked.RequireAccess(new object())).Error);
        Assert.Equal(BrokerError.ResourceLocked, Assert.Throws<BrokerException>(() => looked.RequireAccess(null)).Error);
        await Vhost.DeleteExclusiveQueuesAsync(owner);
        Assert.Null(await Vhost.GetQueueAsync(name));
    }

    [Fact]
    public void Options_name_each_setting_at_fault()
    {
        var errors = new RabbitMqOptions { Uris = ["http://x/"], ChannelPoolSize = 0, PublishTimeout = TimeSpan.Zero, NodeName = "" }.Validate();
        Assert.Contains(errors, e => e.StartsWith("Gateway:RabbitMq:Uris:0 "));
        Assert.Contains(errors, e => e.StartsWith("Gateway:RabbitMq:ChannelPoolSize "));
        Assert.Contains(errors, e => e.StartsWith("Gateway:RabbitMq:PublishTimeout "));
        Assert.Contains(errors, e => e.StartsWith("Gateway:RabbitMq:NodeName "));
        Assert.Empty(new RabbitMqOptions().Validate());
        Assert.DoesNotContain("secret", new RabbitMqOptions { Uris = ["amqp://u:secret@/"] }.Validate().Single());
    }
}
