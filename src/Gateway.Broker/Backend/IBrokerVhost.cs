using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Statistics;
using Gateway.Broker.Topology;

namespace Gateway.Broker;

/// <summary>
/// One vhost of an <see cref="IBroker"/>: its exchanges, queues and bindings, and publishing to it. See
/// <see cref="IBroker"/> for the conventions (refusals, unavailability, unsupported features).
/// </summary>
public interface IBrokerVhost
{
    /// <summary>Its name (the gateway's; the RabbitMQ backend maps <c>default</c> onto RabbitMQ's <c>/</c>).</summary>
    string Name { get; }

    // ---------------------------------------------------------------- exchanges

    /// <summary>The exchange, or null.</summary>
    ValueTask<ExchangeSummary?> GetExchangeAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Every exchange, the default and predeclared ones included, ordered by name.</summary>
    ValueTask<IReadOnlyList<ExchangeSummary>> ListExchangesAsync(CancellationToken cancellationToken = default);

    /// <summary>Declares an exchange; an equivalent existing one is <see cref="DeclareOutcome.Existed"/>, a different one a precondition refusal.</summary>
    ValueTask<DeclareOutcome> DeclareExchangeAsync(ExchangeDefinition definition, CancellationToken cancellationToken = default);

    /// <summary>Deletes an exchange and its bindings; with <paramref name="ifUnused"/>, refused while it has bindings.</summary>
    ValueTask DeleteExchangeAsync(string name, bool ifUnused = false, CancellationToken cancellationToken = default);

    // ---------------------------------------------------------------- queues

    /// <summary>The queue, or null.</summary>
    ValueTask<IBrokerQueue?> GetQueueAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Every queue with its counts, ordered by name.</summary>
    ValueTask<IReadOnlyList<QueueSummary>> ListQueuesAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Declares a queue. An exclusive queue belongs to <paramref name="owner"/> (a WebSocket session) and is deleted
    /// with it (<see cref="DeleteExclusiveQueuesAsync"/>).
    /// </summary>
    ValueTask<(IBrokerQueue Queue, DeclareOutcome Outcome)> DeclareQueueAsync(QueueDefinition definition, object? owner = null,
        CancellationToken cancellationToken = default);

    /// <summary>Declares a queue whose name the broker chooses (the definition's name is ignored).</summary>
    ValueTask<IBrokerQueue> DeclareServerNamedQueueAsync(QueueDefinition definition, object? owner = null, CancellationToken cancellationToken = default);

    /// <summary>Deletes a queue; returns how many messages it held. Refused when <paramref name="ifUnused"/> and it has consumers, or <paramref name="ifEmpty"/> and it has messages.</summary>
    ValueTask<int> DeleteQueueAsync(string name, bool ifUnused = false, bool ifEmpty = false, CancellationToken cancellationToken = default);

    /// <summary>Deletes the exclusive queues of <paramref name="owner"/> (its connection closed).</summary>
    ValueTask DeleteExclusiveQueuesAsync(object owner, CancellationToken cancellationToken = default);

    // ---------------------------------------------------------------- bindings

    /// <summary>Every explicit binding.</summary>
    ValueTask<IReadOnlyList<Binding>> ListBindingsAsync(CancellationToken cancellationToken = default);

    /// <summary>The binding with this id (<see cref="Binding.Id"/>), or null.</summary>
    ValueTask<Binding?> GetBindingAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Binds a queue or an exchange to an exchange.</summary>
    ValueTask<(Binding Binding, DeclareOutcome Outcome)> BindAsync(Binding binding, CancellationToken cancellationToken = default);

    /// <summary>Removes a binding by its id.</summary>
    ValueTask UnbindAsync(string id, CancellationToken cancellationToken = default);

    // ---------------------------------------------------------------- publishing

    /// <summary>
    /// Publishes one message and completes with its confirm: routed, durable where it must be, or refused. A missing
    /// or internal exchange is an outcome status, not an exception.
    /// </summary>
    ValueTask<PublishOutcome> PublishAsync(string exchange, Message message, CancellationToken cancellationToken = default);

    /// <summary>
    /// Publishes messages in order and completes once with all their confirms (one wait for the batch). With
    /// <paramref name="atomic"/>, all are published or none (<see cref="BrokerFeature.AtomicBatch"/>): a mandatory
    /// message that no queue would take, or a full reject-publish queue, refuses the whole batch.
    /// </summary>
    ValueTask<BatchPublishOutcome> PublishBatchAsync(string exchange, IReadOnlyList<Message> messages, IReadOnlyList<bool> mandatory, bool atomic,
        CancellationToken cancellationToken = default);
}

/// <summary>An exchange and its rates.</summary>
/// <param name="Definition">How it was declared.</param>
/// <param name="Rates">Messages per second in and out (zero where the backend keeps no statistics).</param>
/// <param name="PublishedIn">Messages published to it since it was created (or since the backend started counting).</param>
/// <param name="PublishedOut">Copies it routed onwards.</param>
public sealed record ExchangeSummary(ExchangeDefinition Definition, ExchangeRates Rates, long PublishedIn = 0, long PublishedOut = 0);

/// <summary>A queue and its counts, as of the moment it was read.</summary>
/// <param name="Definition">How it was declared.</param>
/// <param name="Status">Its counts.</param>
/// <param name="Incarnation">Its <see cref="IBrokerQueue.Incarnation"/>: another value under the same name is another queue.</param>
public sealed record QueueSummary(QueueDefinition Definition, QueueStatus Status, ulong Incarnation = 0);

/// <summary>A queue's counts and rates.</summary>
/// <param name="MessagesReady">Messages waiting for delivery.</param>
/// <param name="MessagesUnacknowledged">Messages delivered and not yet settled.</param>
/// <param name="MessagesDelayed">Messages held back until their delay ends (0 where the backend has no delays).</param>
/// <param name="Consumers">Active subscriptions.</param>
/// <param name="MessageBytesReady">Payload bytes of the ready messages.</param>
/// <param name="OldestReadyAge">How long the oldest ready message has waited, when known.</param>
/// <param name="Rates">Per-second rates (zero where the backend keeps no statistics).</param>
/// <param name="Counters">Totals since the queue was created, where the backend keeps them.</param>
public sealed record QueueStatus(int MessagesReady, int MessagesUnacknowledged, int MessagesDelayed, int Consumers, long MessageBytesReady,
    TimeSpan? OldestReadyAge, MessageRates Rates, QueueCounters? Counters = null);

/// <summary>A queue's message totals.</summary>
/// <param name="Published">Messages that entered it.</param>
/// <param name="Delivered">Deliveries to consumers (redeliveries included).</param>
/// <param name="Acknowledged">Deliveries acknowledged.</param>
/// <param name="Redelivered">Redeliveries.</param>
/// <param name="DeadLettered">Messages dead-lettered out of it.</param>
public sealed record QueueCounters(long Published, long Delivered, long Acknowledged, long Redelivered, long DeadLettered);

/// <summary>What a batch publish did.</summary>
/// <param name="Outcomes">Each message's outcome, in order; null when the batch was refused as a whole.</param>
/// <param name="Refusal">Why the batch was refused as a whole (a missing or internal exchange, or an atomic batch's refusal).</param>
/// <param name="RefusedIndex">The message that refused an atomic batch, or -1.</param>
public sealed record BatchPublishOutcome(IReadOnlyList<PublishOutcome>? Outcomes, BatchRefusal Refusal = BatchRefusal.None, int RefusedIndex = -1);
