using System.Buffers.Text;
using System.Security.Cryptography;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;

namespace Gateway.Broker.Topology;

/// <summary>The result of a declaration.</summary>
public enum DeclareOutcome
{
    /// <summary>It did not exist and was created.</summary>
    Created,
    /// <summary>It existed with an equivalent definition; nothing changed.</summary>
    Existed,
}

/// <summary>What a publish did.</summary>
public enum PublishStatus
{
    /// <summary>Routed (possibly to no queue: see <see cref="PublishOutcome.Queues"/>).</summary>
    Ok,
    /// <summary>No such exchange.</summary>
    ExchangeNotFound,
    /// <summary>The exchange is internal: only other exchanges may route to it.</summary>
    ExchangeInternal,
}

/// <summary>The answer to a publish.</summary>
/// <param name="Status">Whether the publish was accepted.</param>
/// <param name="Queues">How many queues took the message.</param>
public readonly record struct PublishOutcome(PublishStatus Status, int Queues)
{
    /// <summary>True when at least one queue took the message.</summary>
    public bool Routed => Queues > 0;
}

/// <summary>
/// A namespace of exchanges, queues and bindings. Topology changes are serialized by one lock and publish a new
/// immutable <see cref="TopologySnapshot"/>; publishing reads the current snapshot and never takes that lock.
/// </summary>
public sealed class VirtualHost
{
    private static readonly ExchangeDefinition DefaultExchange = new("", ExchangeType.Direct, Durable: true);

    /// <summary>The exchanges every vhost has from its creation (besides the default exchange).</summary>
    public static readonly IReadOnlyList<ExchangeDefinition> PredeclaredExchanges =
    [
        new("amq.direct", ExchangeType.Direct),
        new("amq.fanout", ExchangeType.Fanout),
        new("amq.headers", ExchangeType.Headers),
        new("amq.match", ExchangeType.Headers),
        new("amq.topic", ExchangeType.Topic),
    ];

    private readonly Lock _lock = new();
    private readonly LeaseTable _leases;
    private readonly Dictionary<string, ExchangeDefinition> _exchanges = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ExchangeNode> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MessageQueue> _queues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Binding> _bindings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Binding>> _bySource = new(StringComparer.Ordinal);
    private volatile TopologySnapshot _snapshot;

    internal VirtualHost(string name, LeaseTable leases)
    {
        Name = name;
        _leases = leases;
        _exchanges[""] = DefaultExchange;
        _nodes[""] = new ExchangeNode(DefaultExchange, DefaultRouter.Instance);
        foreach (var x in PredeclaredExchanges)
        {
            _exchanges[x.Name] = x;
            _nodes[x.Name] = new ExchangeNode(x, ExchangeRouter.Create(x.Type, []));
        }
        _snapshot = new TopologySnapshot(new(_nodes, StringComparer.Ordinal), new(_queues, StringComparer.Ordinal));
    }

    /// <summary>The vhost's name.</summary>
    public string Name { get; }

    /// <summary>True once the vhost has been deleted.</summary>
    public bool IsDeleted { get; private set; }

    // ---------------------------------------------------------------- publishing

    /// <summary>Routes a message from <paramref name="exchange"/> ("" for the default exchange) and enqueues it.</summary>
    public PublishOutcome Publish(string exchange, Message message)
    {
        var snapshot = _snapshot;
        if (!snapshot.Exchanges.TryGetValue(exchange, out var node)) return new(PublishStatus.ExchangeNotFound, 0);
        if (node.Definition.Internal) return new(PublishStatus.ExchangeInternal, 0);
        var queues = RouteBuffer.Rent();
        try
        {
            snapshot.Route(node, message.RoutingKey, message.Properties.Headers, queues);
            var taken = 0;
            foreach (var queue in queues)
                if (queue.Enqueue(message)) taken++;
            return new(PublishStatus.Ok, taken);
        }
        finally
        {
            RouteBuffer.Return(queues);
        }
    }

    /// <summary>
    /// Computes the queues a message would reach, without enqueueing it. False when the exchange does not exist.
    /// </summary>
    public bool Route(string exchange, string routingKey, IReadOnlyDictionary<string, object?>? headers, List<MessageQueue> queues)
    {
        var snapshot = _snapshot;
        if (!snapshot.Exchanges.TryGetValue(exchange, out var node)) return false;
        snapshot.Route(node, routingKey, headers, queues);
        return true;
    }

    private static class RouteBuffer
    {
        [ThreadStatic] private static List<MessageQueue>? t_list;

        public static List<MessageQueue> Rent()
        {
            var list = t_list ?? new List<MessageQueue>();
            t_list = null;
            return list;
        }

        public static void Return(List<MessageQueue> list)
        {
            list.Clear();
            t_list = list;
        }
    }

    // ---------------------------------------------------------------- exchanges

    /// <summary>The exchange's definition, or null. "" is the default exchange.</summary>
    public ExchangeDefinition? GetExchange(string name) => _snapshot.Exchanges.TryGetValue(name, out var node) ? node.Definition : null;

    /// <summary>All exchanges, the default exchange ("") included, ordered by name.</summary>
    public IReadOnlyList<ExchangeDefinition> ListExchanges() =>
        _snapshot.Exchanges.Values.Select(n => n.Definition).OrderBy(d => d.Name, StringComparer.Ordinal).ToList();

    /// <summary>
    /// Declares an exchange. Declaring the same definition again changes nothing; a different definition under an
    /// existing name fails with <see cref="BrokerError.PreconditionFailed"/>; new names starting with <c>amq.</c>
    /// are refused with <see cref="BrokerError.AccessRefused"/>, as is the default exchange.
    /// </summary>
    public DeclareOutcome DeclareExchange(ExchangeDefinition definition)
    {
        if (definition.Name.Length == 0) throw BrokerException.AccessRefused("The default exchange cannot be declared.");
        if (Names.Validate(definition.Name) is { } nameError) throw BrokerException.Invalid($"Exchange name {nameError}.");
        if (definition.Arguments?.TryGetValue(ExchangeDefinition.AlternateExchangeArgument, out var ae) == true && ae is not string)
            throw BrokerException.Invalid("Argument 'alternate-exchange' must be a string naming an exchange.");
        lock (_lock)
        {
            ThrowIfDeleted();
            if (_exchanges.TryGetValue(definition.Name, out var existing))
            {
                if (existing.IsEquivalentTo(definition)) return DeclareOutcome.Existed;
                throw BrokerException.Precondition(
                    $"Exchange '{definition.Name}' exists with a different definition ({Describe(existing)}); declared as {Describe(definition)}.");
            }
            if (definition.Name.StartsWith("amq.", StringComparison.Ordinal))
                throw BrokerException.AccessRefused($"Exchange names starting with 'amq.' are reserved; '{definition.Name}' cannot be declared.");
            _exchanges[definition.Name] = definition;
            RebuildRouter(definition.Name);
            Publish();
            return DeclareOutcome.Created;
        }
    }

    private static string Describe(ExchangeDefinition d) =>
        $"type={d.Type.ToName()}, durable={d.Durable}, autoDelete={d.AutoDelete}, internal={d.Internal}, arguments={HeaderValues.Canonical(d.Arguments)}";

    /// <summary>Deletes an exchange and every binding from or to it.</summary>
    public void DeleteExchange(string name, bool ifUnused = false)
    {
        lock (_lock)
        {
            ThrowIfDeleted();
            if (name.Length == 0 || (name.StartsWith("amq.", StringComparison.Ordinal) && _exchanges.ContainsKey(name)))
                throw BrokerException.AccessRefused($"Exchange '{DisplayName(name)}' is predeclared and cannot be deleted.");
            if (!_exchanges.ContainsKey(name)) throw BrokerException.NotFound($"No exchange '{name}' in vhost '{Name}'.");
            if (ifUnused && _bySource.ContainsKey(name))
                throw BrokerException.Precondition($"Exchange '{name}' has bindings and ifUnused was requested.");
            RemoveExchange(name);
            Publish();
        }
    }

    private static string DisplayName(string exchange) => exchange.Length == 0 ? Names.DefaultExchangeAlias : exchange;

    // Under the lock: removes the exchange, its outgoing bindings and the bindings to it, cascading auto-delete.
    private void RemoveExchange(string name)
    {
        if (!_exchanges.Remove(name)) return;
        _nodes.Remove(name);
        if (_bySource.Remove(name, out var outgoing))
            foreach (var b in outgoing) _bindings.Remove(b.Id);
        RemoveBindingsTo(name, BindingDestinationType.Exchange);
    }

    // ---------------------------------------------------------------- queues

    /// <summary>The queue, or null.</summary>
    public MessageQueue? GetQueue(string name) => _snapshot.Queues.GetValueOrDefault(name);

    /// <summary>All queues ordered by name.</summary>
    public IReadOnlyList<MessageQueue> ListQueues() =>
        _snapshot.Queues.Values.OrderBy(q => q.Name, StringComparer.Ordinal).ToList();

    /// <summary>
    /// Declares a queue. The same definition again changes nothing; a different one under an existing name fails
    /// with <see cref="BrokerError.PreconditionFailed"/>; names starting with <c>amq.</c> are reserved.
    /// </summary>
    public (MessageQueue Queue, DeclareOutcome Outcome) DeclareQueue(QueueDefinition definition)
    {
        if (definition.Name.StartsWith("amq.", StringComparison.Ordinal))
            throw BrokerException.AccessRefused($"Queue names starting with 'amq.' are reserved; '{definition.Name}' cannot be declared.");
        return DeclareQueueCore(definition);
    }

    /// <summary>Declares a queue with a server-chosen unique name (<c>amq.gen-</c> and 22 random characters).</summary>
    public MessageQueue DeclareServerNamedQueue(QueueDefinition definition)
    {
        Span<byte> random = stackalloc byte[16];
        RandomNumberGenerator.Fill(random);
        return DeclareQueueCore(definition with { Name = "amq.gen-" + Base64Url.EncodeToString(random) }).Queue;
    }

    private (MessageQueue Queue, DeclareOutcome Outcome) DeclareQueueCore(QueueDefinition definition)
    {
        if (Names.Validate(definition.Name) is { } nameError) throw BrokerException.Invalid($"Queue name {nameError}.");
        lock (_lock)
        {
            ThrowIfDeleted();
            if (_queues.TryGetValue(definition.Name, out var existing))
            {
                if (existing.Definition.IsEquivalentTo(definition)) return (existing, DeclareOutcome.Existed);
                throw BrokerException.Precondition($"Queue '{definition.Name}' exists with a different definition (durable={existing.Definition.Durable}, exclusive={existing.Definition.Exclusive}, autoDelete={existing.Definition.AutoDelete}, arguments={HeaderValues.Canonical(existing.Definition.Arguments)}).");
            }
            var queue = new MessageQueue(this, definition, _leases);
            _queues[definition.Name] = queue;
            Publish();
            return (queue, DeclareOutcome.Created);
        }
    }

    /// <summary>Deletes a queue with its messages and bindings; returns how many messages it held.</summary>
    public int DeleteQueue(string name, bool ifUnused = false, bool ifEmpty = false)
    {
        lock (_lock)
        {
            ThrowIfDeleted();
            if (!_queues.TryGetValue(name, out var queue)) throw BrokerException.NotFound($"No queue '{name}' in vhost '{Name}'.");
            if (ifUnused && queue.ConsumerCount > 0)
                throw BrokerException.Precondition($"Queue '{name}' has {queue.ConsumerCount} consumer(s) and ifUnused was requested.");
            if (ifEmpty && !queue.IsEmpty)
                throw BrokerException.Precondition($"Queue '{name}' has {queue.MessagesReady} message(s) and ifEmpty was requested.");
            // Bindings first: rebuilding a source's router after removing one of several bindings to this queue
            // still looks the queue up for the others.
            RemoveBindingsTo(name, BindingDestinationType.Queue);
            _queues.Remove(name);
            var count = queue.MarkDeleted();
            Publish();
            return count;
        }
    }

    /// <summary>Deletes an auto-delete queue after its last consumer went, if it still has none.</summary>
    public void DeleteIfUnused(MessageQueue queue)
    {
        try
        {
            if (GetQueue(queue.Name) == queue && queue.ConsumerCount == 0) DeleteQueue(queue.Name, ifUnused: true);
        }
        catch (BrokerException)
        {
            // Deleted concurrently: nothing left to do.
        }
    }

    // ---------------------------------------------------------------- bindings

    /// <summary>All bindings, ordered by source, destination and key.</summary>
    public IReadOnlyList<Binding> ListBindings()
    {
        lock (_lock)
            return _bindings.Values
                .OrderBy(b => b.Source, StringComparer.Ordinal).ThenBy(b => b.Destination, StringComparer.Ordinal)
                .ThenBy(b => b.RoutingKey, StringComparer.Ordinal).ToList();
    }

    /// <summary>The binding with this id, or null.</summary>
    public Binding? GetBinding(string id)
    {
        lock (_lock) return _bindings.GetValueOrDefault(id);
    }

    /// <summary>Adds a binding; binding the same definition again returns the existing one.</summary>
    public (Binding Binding, DeclareOutcome Outcome) Bind(Binding binding)
    {
        if (binding.Source.Length == 0 || (binding.DestinationType == BindingDestinationType.Exchange && binding.Destination.Length == 0))
            throw BrokerException.AccessRefused("The default exchange cannot be bound explicitly: it routes to every queue by name.");
        lock (_lock)
        {
            ThrowIfDeleted();
            if (!_exchanges.ContainsKey(binding.Source)) throw BrokerException.NotFound($"No exchange '{binding.Source}' in vhost '{Name}'.");
            var exists = binding.DestinationType == BindingDestinationType.Queue
                ? _queues.ContainsKey(binding.Destination)
                : _exchanges.ContainsKey(binding.Destination);
            if (!exists)
                throw BrokerException.NotFound($"No {(binding.DestinationType == BindingDestinationType.Queue ? "queue" : "exchange")} '{binding.Destination}' in vhost '{Name}'.");
            if (_exchanges[binding.Source].Type == ExchangeType.Headers && HeadersPattern.Validate(binding.Arguments) is { } argumentError)
                throw BrokerException.Invalid(argumentError);
            if (_bindings.TryGetValue(binding.Id, out var existing)) return (existing, DeclareOutcome.Existed);
            _bindings[binding.Id] = binding;
            if (!_bySource.TryGetValue(binding.Source, out var list)) _bySource[binding.Source] = list = [];
            list.Add(binding);
            RebuildRouter(binding.Source);
            Publish();
            return (binding, DeclareOutcome.Created);
        }
    }

    /// <summary>Removes a binding by id. An auto-delete source exchange left without bindings is deleted.</summary>
    public void Unbind(string id)
    {
        lock (_lock)
        {
            ThrowIfDeleted();
            if (!_bindings.TryGetValue(id, out var binding)) throw BrokerException.NotFound($"No binding '{id}' in vhost '{Name}'.");
            RemoveBinding(binding);
            Publish();
        }
    }

    // Under the lock.
    private void RemoveBinding(Binding binding)
    {
        _bindings.Remove(binding.Id);
        var list = _bySource[binding.Source];
        list.Remove(binding);
        if (list.Count > 0) { RebuildRouter(binding.Source); return; }
        _bySource.Remove(binding.Source);
        if (_exchanges.TryGetValue(binding.Source, out var source) && source.AutoDelete) RemoveExchange(binding.Source);
        else RebuildRouter(binding.Source);
    }

    private void RemoveBindingsTo(string destination, BindingDestinationType type)
    {
        var doomed = _bindings.Values.Where(b => b.DestinationType == type && b.Destination == destination).ToList();
        foreach (var binding in doomed)
            if (_bindings.ContainsKey(binding.Id)) RemoveBinding(binding);
    }

    // ---------------------------------------------------------------- snapshot

    private void RebuildRouter(string exchange)
    {
        if (!_exchanges.TryGetValue(exchange, out var definition)) return;
        var bindings = _bySource.TryGetValue(exchange, out var list)
            ? list.Select(b => (b, b.DestinationType == BindingDestinationType.Queue ? _queues[b.Destination].Target : new RouteTarget(b.Destination))).ToList()
            : [];
        _nodes[exchange] = new ExchangeNode(definition, ExchangeRouter.Create(definition.Type, bindings));
    }

    private void Publish() =>
        _snapshot = new TopologySnapshot(new(_nodes, StringComparer.Ordinal), new(_queues, StringComparer.Ordinal));

    internal void MarkDeleted()
    {
        lock (_lock)
        {
            IsDeleted = true;
            foreach (var queue in _queues.Values) queue.MarkDeleted();
        }
    }

    private void ThrowIfDeleted()
    {
        if (IsDeleted) throw BrokerException.NotFound($"Vhost '{Name}' was deleted.");
    }
}
