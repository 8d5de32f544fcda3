using System.Net;
using System.Text.Json;
using Gateway.Broker;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Statistics;
using Gateway.Broker.Topology;
using Gateway.RabbitMq.Connections;
using Gateway.RabbitMq.Management;
using Gateway.RabbitMq.Queues;

namespace Gateway.RabbitMq.Topology;

/// <summary>
/// A gateway vhost on RabbitMQ (<c>default</c> is RabbitMQ's <c>/</c>): topology through AMQP on throwaway channels
/// and the management API, listings from the management API, publishing through the vhost's confirm channel pool.
/// </summary>
/// <remarks>
/// Declarations compare first (management API GET: a failed passive declare would close an AMQP channel), then
/// create; a concurrent creation with another definition is still refused by RabbitMQ (precondition failed).
/// Gateway-exclusive queues are plain non-exclusive RabbitMQ queues (an AMQP exclusive queue belongs to one AMQP
/// connection, and the gateway's owner is a WebSocket session): the owner is known to this node only, which enforces
/// the exclusivity (<see cref="RabbitMqQueue.RequireAccess"/>), renews their <c>x-expires</c> while the owner lives, and
/// deletes them with it; the queue of a node that died expires after <see cref="RabbitMqOptions.ExclusiveQueueExpiry"/>.
/// </remarks>
internal sealed partial class RabbitMqVhost : IBrokerVhost
{
    private readonly RabbitMqBroker _broker;

    public RabbitMqVhost(RabbitMqBroker broker, string name, VhostConnection connection)
    {
        _broker = broker;
        Name = name;
        RabbitName = RabbitMqBroker.ToRabbitVhost(name);
        Connection = connection;
    }

    public string Name { get; }
    public string RabbitName { get; }
    internal VhostConnection Connection { get; }
    private RabbitMqOptions Options => _broker.Options;
    private ManagementClient Management => _broker.Management;
    private string V => ManagementClient.Segment(RabbitName);

    // ---------------------------------------------------------------- exchanges

    private static string ExchangeSegment(string name) => ManagementClient.Segment(name.Length == 0 ? "amq.default" : name);

    private async Task<ExchangeSummary?> ExchangeAsync(string name, CancellationToken cancellationToken)
    {
        using var doc = await Management.GetAsync($"api/exchanges/{V}/{ExchangeSegment(name)}", cancellationToken).ConfigureAwait(false);
        if (doc is null || Definitions.ExchangeFromJson(doc.RootElement) is not { } definition) return null;
        return Summary(definition with { Name = name }, doc.RootElement);
    }

    private static ExchangeSummary Summary(ExchangeDefinition definition, JsonElement x) =>
        new(definition, new ExchangeRates(ManagementJson.Rate(x, "publish_in"), ManagementJson.Rate(x, "publish_out")),
            ManagementJson.Total(x, "publish_in"), ManagementJson.Total(x, "publish_out"));

    public async ValueTask<ExchangeSummary?> GetExchangeAsync(string name, CancellationToken cancellationToken = default) =>
        Definitions.IsHidden(name) ? null : await ExchangeAsync(name, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<ExchangeSummary>> ListExchangesAsync(CancellationToken cancellationToken = default)
    {
        using var doc = await Management.GetAsync($"api/exchanges/{V}", cancellationToken).ConfigureAwait(false)
            ?? throw VhostGone();
        var list = new List<ExchangeSummary>();
        foreach (var x in doc.RootElement.EnumerateArray())
            if (Definitions.ExchangeFromJson(x) is { } d && !Definitions.IsHidden(d.Name)) list.Add(Summary(d, x));
        return list.OrderBy(x => x.Definition.Name, StringComparer.Ordinal).ToList();
    }

    public async ValueTask<DeclareOutcome> DeclareExchangeAsync(ExchangeDefinition definition, CancellationToken cancellationToken = default)
    {
        if (definition.Name.Length == 0) throw new BrokerException(BrokerError.AccessRefused, "The default exchange cannot be declared.");
        if (Names.Validate(definition.Name) is { } nameError) throw new BrokerException(BrokerError.InvalidArgument, $"Exchange name {nameError}.");
        if (definition.Arguments?.TryGetValue(ExchangeDefinition.AlternateExchangeArgument, out var ae) == true && ae is not string)
            throw new BrokerException(BrokerError.InvalidArgument, "Argument 'alternate-exchange' must be a string naming an exchange.");
        if (await ExchangeAsync(definition.Name, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            if (existing.Definition.IsEquivalentTo(definition)) return DeclareOutcome.Existed;
            throw new BrokerException(BrokerError.PreconditionFailed,
                $"Exchange '{definition.Name}' exists with a different definition ({Describe(existing.Definition)}); declared as {Describe(definition)}.");
        }
        if (definition.Name.StartsWith("amq.", StringComparison.Ordinal))
            throw new BrokerException(BrokerError.AccessRefused, $"Exchange names starting with 'amq.' are reserved; '{definition.Name}' cannot be declared.");
        // The management API, because RabbitMQ.Client's exchange.declare has no 'internal' flag.
        await Management.PutAsync($"api/exchanges/{V}/{ExchangeSegment(definition.Name)}", w =>
        {
            w.WriteStartObject();
            w.WriteString("type", definition.Type.ToName());
            w.WriteBoolean("durable", definition.Durable);
            w.WriteBoolean("auto_delete", definition.AutoDelete);
            w.WriteBoolean("internal", definition.Internal);
            w.WritePropertyName("arguments");
            ManagementJson.Write(w, definition.Arguments ?? new Dictionary<string, object?>());
            w.WriteEndObject();
        }, cancellationToken).ConfigureAwait(false);
        return DeclareOutcome.Created;
    }

    private static string Describe(ExchangeDefinition d) =>
        $"type={d.Type.ToName()}, durable={d.Durable}, autoDelete={d.AutoDelete}, internal={d.Internal}, arguments={HeaderValues.Canonical(d.Arguments)}";

    public async ValueTask DeleteExchangeAsync(string name, bool ifUnused = false, CancellationToken cancellationToken = default)
    {
        if (name.Length == 0 || name.StartsWith("amq.", StringComparison.Ordinal) && await ExchangeAsync(name, cancellationToken).ConfigureAwait(false) is not null)
            throw new BrokerException(BrokerError.AccessRefused, $"Exchange '{(name.Length == 0 ? Names.DefaultExchangeAlias : name)}' is predeclared and cannot be deleted.");
        if (await ExchangeAsync(name, cancellationToken).ConfigureAwait(false) is null)
            throw new BrokerException(BrokerError.NotFound, $"No exchange '{name}' in vhost '{Name}'.");
        await Connection.OnThrowawayChannelAsync(async c =>
        {
            await c.ExchangeDeleteAsync(name, ifUnused, cancellationToken: cancellationToken).ConfigureAwait(false);
            return 0;
        }, cancellationToken).ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- queues

    internal async Task<(QueueDefinition Definition, string Type, JsonElement Json)?> QueueJsonAsync(string name, CancellationToken cancellationToken)
    {
        using var doc = await Management.GetAsync($"api/queues/{V}/{ManagementClient.Segment(name)}", cancellationToken).ConfigureAwait(false);
        if (doc is null) return null;
        var definition = Definitions.QueueFromJson(doc.RootElement, out var type);
        return (definition, type, doc.RootElement.Clone());
    }

    public async ValueTask<IBrokerQueue?> GetQueueAsync(string name, CancellationToken cancellationToken = default) =>
        await QueueJsonAsync(name, cancellationToken).ConfigureAwait(false) is { } q ? new RabbitMqQueue(_broker, this, q.Definition) : null;

    public async ValueTask<IReadOnlyList<QueueSummary>> ListQueuesAsync(CancellationToken cancellationToken = default)
    {
        using var doc = await Management.GetAsync($"api/queues/{V}", cancellationToken).ConfigureAwait(false) ?? throw VhostGone();
        var list = new List<QueueSummary>();
        foreach (var q in doc.RootElement.EnumerateArray())
        {
            var definition = Definitions.QueueFromJson(q, out _);
            list.Add(new QueueSummary(definition, RabbitMqQueue.StatusFromJson(q, null), RabbitMqQueue.IncarnationOf(RabbitName, definition.Name)));
        }
        return list.OrderBy(q => q.Definition.Name, StringComparer.Ordinal).ToList();
    }

    public async ValueTask<(IBrokerQueue Queue, DeclareOutcome Outcome)> DeclareQueueAsync(QueueDefinition definition, object? owner = null,
        CancellationToken cancellationToken = default)
    {
        if (definition.Name.StartsWith("amq.", StringComparison.Ordinal))
            throw new BrokerException(BrokerError.AccessRefused, $"Queue names starting with 'amq.' are reserved; '{definition.Name}' cannot be declared.");
        if (Names.Validate(definition.Name) is { } nameError) throw new BrokerException(BrokerError.InvalidArgument, $"Queue name {nameError}.");
        return await DeclareQueueCoreAsync(definition, owner, cancellationToken).ConfigureAwait(false);
    }

    private async Task<(IBrokerQueue Queue, DeclareOutcome Outcome)> DeclareQueueCoreAsync(QueueDefinition definition, object? owner,
        CancellationToken cancellationToken)
    {
        if (definition.Exclusive && owner is null)
            throw new BrokerException(BrokerError.InvalidArgument,
                $"Queue '{definition.Name}' is exclusive: exclusive queues belong to a connection and are declared over a WebSocket.");
        var declaration = Definitions.ToRabbit(definition, Options);
        if (await QueueJsonAsync(definition.Name, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            var queue = new RabbitMqQueue(_broker, this, existing.Definition);
            queue.RequireAccess(owner);
            if (existing.Type == declaration.Type && Definitions.Comparable(existing.Definition).IsEquivalentTo(Definitions.Comparable(definition)))
                return (queue, DeclareOutcome.Existed);
            throw new BrokerException(BrokerError.PreconditionFailed,
                $"Queue '{definition.Name}' exists with a different definition (type={existing.Type}, durable={existing.Definition.Durable}, exclusive={existing.Definition.Exclusive}, autoDelete={existing.Definition.AutoDelete}, arguments={HeaderValues.Canonical(Definitions.Comparable(existing.Definition).Arguments)}).");
        }
        var name = await DeclareOnRabbitAsync(definition.Name, definition.Exclusive, declaration, cancellationToken).ConfigureAwait(false);
        if (definition.Exclusive) _broker.ExclusiveOwners[(RabbitName, name)] = new RabbitMqBroker.ExclusiveQueue(owner!, declaration);
        return (new RabbitMqQueue(_broker, this, definition with { Name = name }), DeclareOutcome.Created);
    }

    private Task<string> DeclareOnRabbitAsync(string name, bool exclusive, RabbitQueueDeclaration declaration, CancellationToken cancellationToken)
    {
        var args = declaration.Arguments;
        if (exclusive)
        {
            args[Definitions.ExclusiveMarker] = Options.NodeName;
            if (!args.ContainsKey(QueueArguments.ExpiresKey))
            {
                args[QueueArguments.ExpiresKey] = (long)Options.ExclusiveQueueExpiry.TotalMilliseconds;
                args[Definitions.ImpliedExpiresMarker] = true;
            }
        }
        return Connection.OnThrowawayChannelAsync(async c =>
        {
            var ok = await c.QueueDeclareAsync(name, declaration.Durable, exclusive: false, declaration.AutoDelete,
                Messages.AmqpMapping.ToTable(args), cancellationToken: cancellationToken).ConfigureAwait(false);
            return ok.QueueName;
        }, cancellationToken);
    }

    /// <summary>
    /// A server-named queue: RabbitMQ names it (<c>amq.gen-…</c>). Always classic: RabbitMQ 3.10 does not name quorum
    /// queues for the client.
    /// </summary>
    public async ValueTask<IBrokerQueue> DeclareServerNamedQueueAsync(QueueDefinition definition, object? owner = null, CancellationToken cancellationToken = default)
    {
        if (definition.Exclusive && owner is null)
            throw new BrokerException(BrokerError.InvalidArgument, "Exclusive queues belong to a connection and are declared over a WebSocket.");
        var args = definition.Arguments?.ToDictionary(StringComparer.Ordinal) ?? [];
        args[QueueArguments.QueueTypeKey] = "classic";
        var declaration = Definitions.ToRabbit(definition with { Name = "", Arguments = args }, Options);
        var name = await DeclareOnRabbitAsync("", definition.Exclusive, declaration, cancellationToken).ConfigureAwait(false);
        if (definition.Exclusive) _broker.ExclusiveOwners[(RabbitName, name)] = new RabbitMqBroker.ExclusiveQueue(owner!, declaration);
        return new RabbitMqQueue(_broker, this, definition with { Name = name, Arguments = definition.Arguments });
    }

    public async ValueTask<int> DeleteQueueAsync(string name, bool ifUnused = false, bool ifEmpty = false, CancellationToken cancellationToken = default)
    {
        var count = await Connection.OnThrowawayChannelAsync(async c =>
        {
            // Passive first: RabbitMQ answers delete-ok for a queue that does not exist.
            await c.QueueDeclarePassiveAsync(name, cancellationToken).ConfigureAwait(false);
            return await c.QueueDeleteAsync(name, ifUnused, ifEmpty, cancellationToken: cancellationToken).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
        _broker.ExclusiveOwners.TryRemove((RabbitName, name), out _);
        _broker.DropLeaseChannel(RabbitName, name);
        // This node's consumers of it end now: RabbitMQ's basic.cancel comes later (or, for some queue types and
        // versions, not at all: the consumer would only learn of it when its channel is next used).
        foreach (var subscription in _broker.Subscriptions.Keys)
            if (subscription.RabbitQueue.VirtualHost.RabbitName == RabbitName && subscription.RabbitQueue.Name == name)
                await subscription.EndQueueDeletedAsync().ConfigureAwait(false);
        return (int)count;
    }

    public async ValueTask DeleteExclusiveQueuesAsync(object owner, CancellationToken cancellationToken = default)
    {
        foreach (var ((vhost, queue), o) in _broker.ExclusiveOwners.ToArray())
        {
            if (vhost != RabbitName || !ReferenceEquals(o.Owner, owner)) continue;
            try
            {
                await DeleteQueueAsync(queue, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (BrokerException)
            {
                // Deleted meanwhile.
                _broker.ExclusiveOwners.TryRemove((vhost, queue), out _);
            }
        }
    }

    // ---------------------------------------------------------------- bindings

    private async Task<List<(Binding Binding, string PropertiesKey)>> BindingsAsync(CancellationToken cancellationToken)
    {
        using var doc = await Management.GetAsync($"api/bindings/{V}", cancellationToken).ConfigureAwait(false) ?? throw VhostGone();
        var list = new List<(Binding, string)>();
        foreach (var b in doc.RootElement.EnumerateArray())
            if (Definitions.BindingFromJson(b) is { } binding) list.Add(binding);
        return list;
    }

    public async ValueTask<IReadOnlyList<Binding>> ListBindingsAsync(CancellationToken cancellationToken = default) =>
        (await BindingsAsync(cancellationToken).ConfigureAwait(false)).Select(b => b.Binding).ToList();

    public async ValueTask<Binding?> GetBindingAsync(string id, CancellationToken cancellationToken = default) =>
        (await BindingsAsync(cancellationToken).ConfigureAwait(false)).Select(b => b.Binding).FirstOrDefault(b => b.Id == id);

    public async ValueTask<(Binding Binding, DeclareOutcome Outcome)> BindAsync(Binding binding, CancellationToken cancellationToken = default)
    {
        if (binding.Source.Length == 0 || binding.DestinationType == BindingDestinationType.Exchange && binding.Destination.Length == 0)
            throw new BrokerException(BrokerError.AccessRefused, "The default exchange cannot be bound explicitly: it routes to every queue by name.");
        var source = await ExchangeAsync(binding.Source, cancellationToken).ConfigureAwait(false)
            ?? throw new BrokerException(BrokerError.NotFound, $"No exchange '{binding.Source}' in vhost '{Name}'.");
        if (source.Definition.Type == ExchangeType.Headers && HeadersPattern.Validate(binding.Arguments) is { } argumentError)
            throw new BrokerException(BrokerError.InvalidArgument, argumentError);
        if ((await BindingsAsync(cancellationToken).ConfigureAwait(false)).Any(b => b.Binding.Id == binding.Id))
            return (binding, DeclareOutcome.Existed);
        var args = Messages.AmqpMapping.ToTable(binding.Arguments);
        await Connection.OnThrowawayChannelAsync(async c =>
        {
            if (binding.DestinationType == BindingDestinationType.Queue)
                await c.QueueBindAsync(binding.Destination, binding.Source, binding.RoutingKey, args, cancellationToken: cancellationToken).ConfigureAwait(false);
            else
                await c.ExchangeBindAsync(binding.Destination, binding.Source, binding.RoutingKey, args, cancellationToken: cancellationToken).ConfigureAwait(false);
            return 0;
        }, cancellationToken).ConfigureAwait(false);
        return (binding, DeclareOutcome.Created);
    }

    public async ValueTask UnbindAsync(string id, CancellationToken cancellationToken = default)
    {
        var found = (await BindingsAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(b => b.Binding.Id == id);
        if (found.Binding is not { } binding) throw new BrokerException(BrokerError.NotFound, $"No binding '{id}' in vhost '{Name}'.");
        // By the management API's properties key: an AMQP unbind must repeat the arguments with their exact AMQP types.
        var kind = binding.DestinationType == BindingDestinationType.Queue ? "q" : "e";
        if (!await Management.DeleteAsync($"api/bindings/{V}/e/{ManagementClient.Segment(binding.Source)}/{kind}/{ManagementClient.Segment(binding.Destination)}/{ManagementClient.Segment(found.PropertiesKey)}",
                cancellationToken).ConfigureAwait(false))
            throw new BrokerException(BrokerError.NotFound, $"No binding '{id}' in vhost '{Name}'.");
    }

    private BrokerException VhostGone() => new(BrokerError.NotFound, $"Vhost '{Name}' does not exist.");
}
