using System.Buffers.Text;
using System.Security.Cryptography;
using Gateway.Broker.Durability;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Statistics;

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

/// <summary>Why an atomic batch was refused.</summary>
public enum BatchRefusal
{
    /// <summary>Not refused.</summary>
    None,
    /// <summary>No such exchange.</summary>
    ExchangeNotFound,
    /// <summary>The exchange is internal.</summary>
    ExchangeInternal,
    /// <summary>A mandatory message would reach no queue.</summary>
    Unroutable,
    /// <summary>A full reject-publish queue would refuse a message.</summary>
    QueueFull,
}

/// <summary>The answer to a publish.</summary>
/// <param name="Status">Whether the publish was accepted.</param>
/// <param name="Queues">How many queues took the message.</param>
/// <param name="Rejected">How many queues refused it because they were full (<c>x-overflow</c> reject-publish): the publish is not confirmed.</param>
public readonly record struct PublishOutcome(PublishStatus Status, int Queues, int Rejected = 0)
{
    /// <summary>True when at least one queue took the message.</summary>
    public bool Routed => Queues > 0;
}

/// <summary>
/// A namespace of exchanges, queues and bindings. Topology changes are serialized by one lock and publish a new
/// immutable <see cref="TopologySnapshot"/>; publishing reads the current snapshot and never takes that lock.
/// </summary>
/// <remarks>
/// With a store, every change is first planned (including cascades: bindings of a deleted queue or exchange,
/// auto-delete exchanges left without bindings), the durable part of the plan is stored in one transaction, and
/// only then applied in memory. A store failure therefore leaves the vhost exactly as it was.
/// </remarks>
public sealed partial class VirtualHost
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
    private readonly QueueTimers _timers;
    private readonly IBrokerStore? _store;
    private readonly Dictionary<string, ExchangeDefinition> _exchanges = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ExchangeNode> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MessageQueue> _queues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Binding> _bindings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Binding>> _bySource = new(StringComparer.Ordinal);
    private volatile TopologySnapshot _snapshot;
    private bool _recovering;
    // While an import runs (ImportScope): durable changes gather here instead of going to the store, and the snapshot
    // is not republished, so that nobody sees the import's changes before they are all stored.
    private List<TopologyChange>? _staged;

    internal VirtualHost(string name, LeaseTable leases, QueueTimers timers, IBrokerStore? store)
    {
        Name = name;
        _leases = leases;
        _timers = timers;
        _store = store;
        _exchanges[""] = DefaultExchange;
        _nodes[""] = new ExchangeNode(DefaultExchange, DefaultRouter.Instance, NewExchangeStatistics());
        foreach (var x in PredeclaredExchanges)
        {
            _exchanges[x.Name] = x;
            _nodes[x.Name] = new ExchangeNode(x, ExchangeRouter.Create(x.Type, []), NewExchangeStatistics());
        }
        _snapshot = new TopologySnapshot(new(_nodes, StringComparer.Ordinal), new(_queues, StringComparer.Ordinal));
    }

    /// <summary>The vhost's name.</summary>
    public string Name { get; }

    /// <summary>True once the vhost has been deleted.</summary>
    public bool IsDeleted { get; private set; }

    // ---------------------------------------------------------------- publishing

    /// <summary>
    /// Routes a message from <paramref name="exchange"/> ("" for the default exchange) and enqueues it. Completes
    /// synchronously unless the message is persistent and reached a durable queue: then once it is on disk (the
    /// publisher confirm). Throws <see cref="StorageException"/> when it could not be stored.
    /// </summary>
    public ValueTask<PublishOutcome> PublishAsync(string exchange, Message message)
    {
        var ticket = _store is not null && message.Properties.IsPersistent ? new JournalTicket() : null;
        var outcome = PublishUnconfirmed(exchange, message, ticket);
        if (ticket is null) return new(outcome);
        ticket.Release();
        return ticket.Committed.IsCompletedSuccessfully ? new(outcome) : AwaitCommit(ticket.Committed, outcome);
    }

    /// <summary>
    /// Routes and enqueues without waiting for the journal: every journal write it causes is added to
    /// <paramref name="ticket"/>, whose issuer confirms once <see cref="JournalTicket.Committed"/> completes (a batch
    /// publish passes one ticket for all its messages and waits once).
    /// </summary>
    public PublishOutcome PublishUnconfirmed(string exchange, Message message, JournalTicket? ticket)
    {
        var snapshot = _snapshot;
        if (!snapshot.Exchanges.TryGetValue(exchange, out var node)) return new(PublishStatus.ExchangeNotFound, 0);
        if (node.Definition.Internal) return new(PublishStatus.ExchangeInternal, 0);
        var queues = RouteBuffer.Rent();
        try
        {
            snapshot.Route(node, message.RoutingKey, message.Properties.Headers, queues);
            return EnqueueAll(node, message, queues, ticket);
        }
        finally
        {
            RouteBuffer.Return(queues);
        }
    }

    /// <summary>
    /// Publishes a batch as one transaction (AMQP tx): every message is routed against one topology snapshot, and the
    /// whole batch is refused, nothing published, when a message is mandatory and would reach no queue, or a full
    /// reject-publish queue would refuse it. Otherwise all are enqueued, their journal writes in one atomic group
    /// (one transaction); the caller confirms once <paramref name="ticket"/> commits.
    /// </summary>
    /// <returns>The outcomes in order, or null with <paramref name="refusedIndex"/> and <paramref name="refusal"/> set.</returns>
    public PublishOutcome[]? PublishAtomic(string exchange, IReadOnlyList<Message> messages, IReadOnlyList<bool> mandatory, JournalTicket? ticket,
        out int refusedIndex, out BatchRefusal refusal)
    {
        refusedIndex = -1;
        refusal = BatchRefusal.None;
        var snapshot = _snapshot;
        if (!snapshot.Exchanges.TryGetValue(exchange, out var node)) { refusal = BatchRefusal.ExchangeNotFound; return null; }
        if (node.Definition.Internal) { refusal = BatchRefusal.ExchangeInternal; return null; }
        var routes = new List<MessageQueue>[messages.Count];
        var planned = new Dictionary<MessageQueue, (int Count, long Bytes)>();
        for (var i = 0; i < messages.Count; i++)
        {
            routes[i] = [];
            snapshot.Route(node, messages[i].RoutingKey, messages[i].Properties.Headers, routes[i]);
            if (routes[i].Count == 0 && mandatory[i]) { refusedIndex = i; refusal = BatchRefusal.Unroutable; return null; }
            foreach (var queue in routes[i])
            {
                var (count, bytes) = planned.GetValueOrDefault(queue);
                if (!queue.WouldTake(count, bytes)) { refusedIndex = i; refusal = BatchRefusal.QueueFull; return null; }
                planned[queue] = (count + 1, bytes + messages[i].Body.Length);
            }
        }
        var outcomes = new PublishOutcome[messages.Count];
        var journal = _store?.Journal;
        journal?.BeginAtomic();
        try
        {
            for (var i = 0; i < messages.Count; i++) outcomes[i] = EnqueueAll(node, messages[i], routes[i], ticket);
        }
        finally
        {
            journal?.EndAtomic();
        }
        return outcomes;
    }

    // Hands a routed message to its queues and counts what they did with it (and the exchange's publish statistics).
    private static PublishOutcome EnqueueAll(ExchangeNode node, Message message, List<MessageQueue> queues, JournalTicket? ticket)
    {
        int taken = 0, rejected = 0;
        foreach (var queue in queues)
        {
            switch (queue.Enqueue(message, ticket))
            {
                case EnqueueResult.Deleted: break;
                case EnqueueResult.Rejected: rejected++; break;
                default: taken++; break;
            }
        }
        node.Statistics.RecordPublished(taken);
        return new(PublishStatus.Ok, taken, rejected);
    }

    private static async ValueTask<PublishOutcome> AwaitCommit(Task committed, PublishOutcome outcome)
    {
        await committed.ConfigureAwait(false);
        return outcome;
    }

    /// <summary>Publishes and waits for the confirm; see <see cref="PublishAsync"/>.</summary>
    public PublishOutcome Publish(string exchange, Message message)
    {
        var pending = PublishAsync(exchange, message);
        return pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
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

    /// <summary>The exchange's counters and rates, or null when there is no such exchange. "" is the default exchange.</summary>
    public ExchangeStatistics? GetExchangeStatistics(string name) => _snapshot.Exchanges.TryGetValue(name, out var node) ? node.Statistics : null;

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
            if (definition.Durable) Store([new TopologyChange.ExchangeDeclared(Name, definition)]);
            _exchanges[definition.Name] = definition;
            RebuildRouter(definition.Name);
            PublishSnapshot();
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
            var plan = new RemovalPlan(this);
            plan.RemoveExchange(name);
            Execute(plan);
        }
    }

    private static string DisplayName(string exchange) => exchange.Length == 0 ? Names.DefaultExchangeAlias : exchange;

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
    /// <remarks>
    /// An exclusive queue belongs to the connection <paramref name="owner"/> that declares it: only it may use the queue
    /// (others get <see cref="BrokerError.ResourceLocked"/>), and <see cref="DeleteExclusiveQueues"/> deletes it when the
    /// connection closes. It lives no longer than its connection, so it is never stored, whatever its durable flag.
    /// </remarks>
    public (MessageQueue Queue, DeclareOutcome Outcome) DeclareQueue(QueueDefinition definition, object? owner = null)
    {
        if (definition.Name.StartsWith("amq.", StringComparison.Ordinal))
            throw BrokerException.AccessRefused($"Queue names starting with 'amq.' are reserved; '{definition.Name}' cannot be declared.");
        return DeclareQueueCore(definition, 0, owner);
    }

    /// <summary>Declares a queue with a server-chosen unique name (<c>amq.gen-</c> and 22 random characters).</summary>
    public MessageQueue DeclareServerNamedQueue(QueueDefinition definition, object? owner = null)
    {
        Span<byte> random = stackalloc byte[16];
        RandomNumberGenerator.Fill(random);
        return DeclareQueueCore(definition with { Name = "amq.gen-" + Base64Url.EncodeToString(random) }, 0, owner).Queue;
    }

    /// <summary>Deletes the exclusive queues of a connection that closed.</summary>
    public void DeleteExclusiveQueues(object owner)
    {
        foreach (var queue in _snapshot.Queues.Values)
        {
            if (!ReferenceEquals(queue.ExclusiveOwner, owner)) continue;
            try
            {
                DeleteQueue(queue.Name);
            }
            catch (BrokerException)
            {
                // Deleted meanwhile.
            }
        }
    }

    private (MessageQueue Queue, DeclareOutcome Outcome) DeclareQueueCore(QueueDefinition definition, long durableId, object? owner = null)
    {
        if (Names.Validate(definition.Name) is { } nameError) throw BrokerException.Invalid($"Queue name {nameError}.");
        if (definition.Exclusive && owner is null)
            throw BrokerException.Invalid($"Queue '{definition.Name}' is exclusive: exclusive queues belong to a connection and are declared over a WebSocket.");
        var arguments = QueueArguments.Parse(definition.Arguments);
        lock (_lock)
        {
            ThrowIfDeleted();
            if (_queues.TryGetValue(definition.Name, out var existing))
            {
                existing.RequireAccess(owner);
                if (existing.Definition.IsEquivalentTo(definition))
                {
                    existing.Touch();
                    return (existing, DeclareOutcome.Existed);
                }
                throw BrokerException.Precondition($"Queue '{definition.Name}' exists with a different definition (durable={existing.Definition.Durable}, exclusive={existing.Definition.Exclusive}, autoDelete={existing.Definition.AutoDelete}, arguments={HeaderValues.Canonical(existing.Definition.Arguments)}).");
            }
            var journaled = definition.Durable && !definition.Exclusive && _store is not null;
            if (journaled && durableId == 0) durableId = Random.Shared.NextInt64(1, long.MaxValue);
            if (journaled) Store([new TopologyChange.QueueDeclared(Name, definition, durableId)]);
            var queue = new MessageQueue(this, definition, arguments, _leases, _timers, journaled ? _store!.Journal : null, durableId)
            {
                ExclusiveOwner = definition.Exclusive ? owner : null,
            };
            _queues[definition.Name] = queue;
            PublishSnapshot();
            return (queue, DeclareOutcome.Created);
        }
    }

    /// <summary>Deletes a queue with its messages and bindings; returns how many messages it held.</summary>
    public int DeleteQueue(string name, bool ifUnused = false, bool ifEmpty = false)
    {
        MessageQueue queue;
        lock (_lock)
        {
            ThrowIfDeleted();
            if (!_queues.TryGetValue(name, out queue!)) throw BrokerException.NotFound($"No queue '{name}' in vhost '{Name}'.");
            if (ifUnused && queue.ConsumerCount > 0)
                throw BrokerException.Precondition($"Queue '{name}' has {queue.ConsumerCount} consumer(s) and ifUnused was requested.");
            if (ifEmpty && !queue.IsEmpty)
                throw BrokerException.Precondition($"Queue '{name}' has {queue.MessagesReady} message(s) and ifEmpty was requested.");
            var plan = new RemovalPlan(this);
            plan.RemoveQueue(queue);
            Execute(plan);
        }
        return queue.MarkDeleted();
    }

    /// <summary>Deletes a queue whose x-expires interval passed without use, if it is still unused.</summary>
    /// <returns>False when the deletion could not be stored (the queue stays; the caller tries again later).</returns>
    /// <remarks>Runs on the timer's thread, where an escaping exception would end the process.</remarks>
    internal bool DeleteExpired(MessageQueue queue)
    {
        try
        {
            DeleteIfUnused(queue);
            return true;
        }
        catch (StorageException)
        {
            return false;
        }
    }

    /// <summary>
    /// Publishes the dead-letter copies of entries that left <paramref name="source"/> to its dead-letter exchange,
    /// and removes the entries from the journal, all in one atomic journal group: after a crash each message is in
    /// exactly one place. Copies go nowhere when the exchange does not exist or routes them nowhere (as in RabbitMQ),
    /// and not to queues that would close a dead-letter cycle.
    /// </summary>
    internal void DeadLetter(MessageQueue source, List<DeadLetter> dead, JournalTicket? ticket)
    {
        var journal = _store?.Journal;
        journal?.BeginAtomic();
        try
        {
            var snapshot = _snapshot;
            snapshot.Exchanges.TryGetValue(source.Arguments.DeadLetterExchange!, out var node);
            var now = _timers.NowTicks;
            foreach (var (entry, reason, extraHeaders) in dead)
            {
                if (node is not null)
                {
                    var copy = DeadLettering.Copy(entry.Message, source, reason, now, extraHeaders);
                    var queues = RouteBuffer.Rent();
                    try
                    {
                        snapshot.Route(node, copy.RoutingKey, copy.Properties.Headers, queues);
                        foreach (var queue in queues)
                            if (!DeadLettering.IsCycle(copy, reason, queue.Name)) queue.Enqueue(copy, ticket);
                    }
                    finally
                    {
                        RouteBuffer.Return(queues);
                    }
                }
                source.ForgetDeadLettered(entry, ticket);
            }
        }
        finally
        {
            journal?.EndAtomic();
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

    /// <summary>How many bindings the vhost has (explicit ones: not the default exchange's implicit ones).</summary>
    public int BindingCount
    {
        get { lock (_lock) return _bindings.Count; }
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
            if (!_exchanges.TryGetValue(binding.Source, out var source)) throw BrokerException.NotFound($"No exchange '{binding.Source}' in vhost '{Name}'.");
            var exists = binding.DestinationType == BindingDestinationType.Queue
                ? _queues.ContainsKey(binding.Destination)
                : _exchanges.ContainsKey(binding.Destination);
            if (!exists)
                throw BrokerException.NotFound($"No {(binding.DestinationType == BindingDestinationType.Queue ? "queue" : "exchange")} '{binding.Destination}' in vhost '{Name}'.");
            if (source.Type == ExchangeType.Headers && HeadersPattern.Validate(binding.Arguments) is { } argumentError)
                throw BrokerException.Invalid(argumentError);
            if (_bindings.TryGetValue(binding.Id, out var existing)) return (existing, DeclareOutcome.Existed);
            if (IsDurable(binding)) Store([new TopologyChange.BindingAdded(Name, binding)]);
            _bindings[binding.Id] = binding;
            if (!_bySource.TryGetValue(binding.Source, out var list)) _bySource[binding.Source] = list = [];
            list.Add(binding);
            var node = _nodes[binding.Source];
            if (node.Router.Adding(binding, TargetOf(binding)) is { } router) _nodes[binding.Source] = node with { Router = router };
            else RebuildRouter(binding.Source);
            PublishSnapshot();
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
            var plan = new RemovalPlan(this);
            plan.RemoveBinding(binding);
            Execute(plan);
        }
    }

    // A binding is durable when both its ends are (AMQP): only then does it survive a restart.
    private bool IsDurable(Binding binding) =>
        _exchanges.TryGetValue(binding.Source, out var source) && source.Durable && binding.DestinationType switch
        {
            BindingDestinationType.Queue => _queues.TryGetValue(binding.Destination, out var q) && q.DurableId != 0,
            _ => _exchanges.TryGetValue(binding.Destination, out var x) && x.Durable,
        };

    /// <summary>
    /// Everything a removal takes with it, computed before anything changes: the bindings from and to a deleted
    /// exchange, the bindings to a deleted queue, and, transitively, auto-delete exchanges left without bindings.
    /// </summary>
    private sealed class RemovalPlan(VirtualHost vhost)
    {
        public readonly HashSet<string> Exchanges = new(StringComparer.Ordinal);
        public readonly Dictionary<string, Binding> Bindings = new(StringComparer.Ordinal);
        public MessageQueue? Queue;

        public void RemoveExchange(string name)
        {
            if (!Exchanges.Add(name)) return;
            if (vhost._bySource.TryGetValue(name, out var outgoing))
                foreach (var b in outgoing) Bindings.TryAdd(b.Id, b);
            foreach (var b in vhost._bindings.Values.Where(b => b.DestinationType == BindingDestinationType.Exchange && b.Destination == name).ToList())
                RemoveBinding(b);
        }

        public void RemoveQueue(MessageQueue queue)
        {
            Queue = queue;
            foreach (var b in vhost._bindings.Values.Where(b => b.DestinationType == BindingDestinationType.Queue && b.Destination == queue.Name).ToList())
                RemoveBinding(b);
        }

        public void RemoveBinding(Binding binding)
        {
            if (!Bindings.TryAdd(binding.Id, binding)) return;
            var source = binding.Source;
            if (Exchanges.Contains(source) || !vhost._exchanges.TryGetValue(source, out var definition) || !definition.AutoDelete) return;
            if (vhost._bySource[source].All(b => Bindings.ContainsKey(b.Id))) RemoveExchange(source);
        }
    }

    // Under the lock: stores the durable part of the plan, then applies all of it.
    private void Execute(RemovalPlan plan)
    {
        var changes = new List<TopologyChange>();
        foreach (var b in plan.Bindings.Values)
            if (IsDurable(b)) changes.Add(new TopologyChange.BindingRemoved(Name, b));
        foreach (var x in plan.Exchanges)
            if (_exchanges[x].Durable) changes.Add(new TopologyChange.ExchangeDeleted(Name, x));
        if (plan.Queue is { DurableId: not 0 } durableQueue)
            changes.Add(new TopologyChange.QueueDeleted(Name, durableQueue.Name, durableQueue.DurableId));
        Store(changes);

        var touched = new HashSet<string>(StringComparer.Ordinal);
        foreach (var b in plan.Bindings.Values)
        {
            _bindings.Remove(b.Id);
            var list = _bySource[b.Source];
            list.Remove(b);
            if (list.Count == 0) _bySource.Remove(b.Source);
            // A few bindings leave incrementally where the router supports it; otherwise the source is rebuilt below.
            if (plan.Bindings.Count <= 8 && !touched.Contains(b.Source) && _nodes.TryGetValue(b.Source, out var node)
                && node.Router.Removing(b, TargetOf(b)) is { } router)
                _nodes[b.Source] = node with { Router = router };
            else touched.Add(b.Source);
        }
        foreach (var x in plan.Exchanges)
        {
            _exchanges.Remove(x);
            _nodes.Remove(x);
        }
        if (plan.Queue is { } queue) _queues.Remove(queue.Name);
        foreach (var source in touched) RebuildRouter(source);
        PublishSnapshot();
    }

    // ---------------------------------------------------------------- recovery and storage

    private void Store(List<TopologyChange> changes)
    {
        if (_store is null || _recovering || changes.Count == 0) return;
        if (_staged is not null) _staged.AddRange(changes);
        else _store.Apply(changes);
    }

    /// <summary>
    /// Starts an import into this vhost: takes its topology lock (held until the scope is disposed), remembers its state,
    /// and from then on gathers durable changes in <see cref="ImportScope.Staged"/> without publishing them. The importer
    /// stores every vhost's staged changes in one transaction, then <see cref="ImportScope.Commit"/>s, or
    /// <see cref="ImportScope.Rollback"/>s to the remembered state.
    /// </summary>
    internal ImportScope BeginImport() => new(this);

    internal sealed class ImportScope : IDisposable
    {
        private readonly VirtualHost _vhost;
        private readonly Dictionary<string, ExchangeDefinition> _exchanges;
        private readonly Dictionary<string, ExchangeNode> _nodes;
        private readonly Dictionary<string, MessageQueue> _queues;
        private readonly Dictionary<string, Binding> _bindings;
        private readonly Dictionary<string, List<Binding>> _bySource;
        private bool _open = true;

        public ImportScope(VirtualHost vhost)
        {
            _vhost = vhost;
            vhost._lock.Enter();
            _exchanges = new(vhost._exchanges, StringComparer.Ordinal);
            _nodes = new(vhost._nodes, StringComparer.Ordinal);
            _queues = new(vhost._queues, StringComparer.Ordinal);
            _bindings = new(vhost._bindings, StringComparer.Ordinal);
            _bySource = vhost._bySource.ToDictionary(p => p.Key, p => p.Value.ToList(), StringComparer.Ordinal);
            vhost._staged = [];
        }

        public VirtualHost Vhost => _vhost;

        /// <summary>The durable changes the import made so far, in order.</summary>
        public IReadOnlyList<TopologyChange> Staged => _vhost._staged ?? [];

        /// <summary>The changes are stored: makes them visible.</summary>
        public void Commit()
        {
            _vhost._staged = null;
            _vhost.PublishSnapshot();
            _open = false;
        }

        /// <summary>Puts the vhost back as it was; nothing of the import was ever visible.</summary>
        public void Rollback()
        {
            if (!_open) return;
            Restore(_vhost._exchanges, _exchanges);
            Restore(_vhost._nodes, _nodes);
            Restore(_vhost._queues, _queues);
            Restore(_vhost._bindings, _bindings);
            Restore(_vhost._bySource, _bySource);
            _vhost._staged = null;
            _open = false;
        }

        private static void Restore<T>(Dictionary<string, T> target, Dictionary<string, T> saved)
        {
            target.Clear();
            foreach (var (key, value) in saved) target[key] = value;
        }

        public void Dispose()
        {
            Rollback();
            _vhost._lock.Exit();
        }
    }

    /// <summary>Re-creates durable topology read from the store, without writing it back.</summary>
    internal void Restore(DurableTopology topology, Dictionary<long, MessageQueue> queuesById)
    {
        lock (_lock)
        {
            _recovering = true;
            try
            {
                foreach (var (_, definition) in topology.Exchanges.Where(x => x.Vhost == Name))
                    if (!definition.Name.StartsWith("amq.", StringComparison.Ordinal) || !_exchanges.ContainsKey(definition.Name))
                        DeclareExchange(definition);
                foreach (var (_, definition, queueId) in topology.Queues.Where(q => q.Vhost == Name))
                    queuesById[queueId] = DeclareQueueCore(definition, queueId).Queue;
                foreach (var (_, binding) in topology.Bindings.Where(b => b.Vhost == Name))
                {
                    try
                    {
                        Bind(binding);
                    }
                    catch (BrokerException)
                    {
                        // A binding whose end is gone (stored before a crash cut its cascade short): dropped.
                    }
                }
            }
            finally
            {
                _recovering = false;
            }
        }
    }

    // The queue's own target (its identity in routers), or a new exchange target.
    private RouteTarget TargetOf(Binding b) =>
        b.DestinationType == BindingDestinationType.Queue && _queues.TryGetValue(b.Destination, out var queue) ? queue.Target : new RouteTarget(b.Destination);

    private void RebuildRouter(string exchange)
    {
        if (!_exchanges.TryGetValue(exchange, out var definition)) return;
        var bindings = _bySource.TryGetValue(exchange, out var list)
            ? list.Select(b => (b, b.DestinationType == BindingDestinationType.Queue ? _queues[b.Destination].Target : new RouteTarget(b.Destination))).ToList()
            : [];
        _nodes[exchange] = new ExchangeNode(definition, ExchangeRouter.Create(definition.Type, bindings),
            _nodes.TryGetValue(exchange, out var existing) ? existing.Statistics : NewExchangeStatistics());
    }

    private ExchangeStatistics NewExchangeStatistics() => new() { CreatedAt = _leases.Time.GetTimestamp() };

    private void PublishSnapshot()
    {
        if (_staged is not null) return; // an import publishes once, when it has been stored
        _snapshot = new TopologySnapshot(new(_nodes, StringComparer.Ordinal), new(_queues, StringComparer.Ordinal));
    }

    // The sampler's pass over this vhost: what the current snapshot holds (a deleted queue's figures go with it).
    internal void SampleStatistics(long timestamp, long window, long frequency, int capacity)
    {
        var snapshot = _snapshot;
        foreach (var node in snapshot.Exchanges.Values) node.Statistics.Sample(timestamp, window, frequency, capacity);
        foreach (var queue in snapshot.Queues.Values) queue.Statistics.Sample(timestamp, window, frequency, capacity);
    }

    /// <summary>The exchanges of the current snapshot with their counters, unordered.</summary>
    public IEnumerable<(ExchangeDefinition Definition, ExchangeStatistics Statistics)> ExchangeStatisticsSnapshot() =>
        _snapshot.Exchanges.Values.Select(n => (n.Definition, n.Statistics));

    internal void MarkDeleted()
    {
        List<MessageQueue> queues;
        lock (_lock)
        {
            IsDeleted = true;
            queues = [.. _queues.Values];
        }
        foreach (var queue in queues) queue.MarkDeleted();
    }

    private void ThrowIfDeleted()
    {
        if (IsDeleted) throw BrokerException.NotFound($"Vhost '{Name}' was deleted.");
    }
}
