using Gateway.Broker.Durability;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Statistics;

namespace Gateway.Broker.Topology;

// The embedded vhost as an IBrokerVhost.
public sealed partial class VirtualHost : IBrokerVhost
{
    ValueTask<ExchangeSummary?> IBrokerVhost.GetExchangeAsync(string name, CancellationToken cancellationToken) =>
        new(_snapshot.Exchanges.TryGetValue(name, out var node) ? Summary(node.Definition, node.Statistics) : null);

    ValueTask<IReadOnlyList<ExchangeSummary>> IBrokerVhost.ListExchangesAsync(CancellationToken cancellationToken) =>
        new(ExchangeStatisticsSnapshot().Select(x => Summary(x.Definition, x.Statistics))
            .OrderBy(x => x.Definition.Name, StringComparer.Ordinal).ToList());

    private static ExchangeSummary Summary(ExchangeDefinition definition, ExchangeStatistics statistics) =>
        new(definition, statistics.Rates, statistics.PublishedIn, statistics.PublishedOut);

    ValueTask<DeclareOutcome> IBrokerVhost.DeclareExchangeAsync(ExchangeDefinition definition, CancellationToken cancellationToken) =>
        new(DeclareExchange(definition));

    ValueTask IBrokerVhost.DeleteExchangeAsync(string name, bool ifUnused, CancellationToken cancellationToken)
    {
        DeleteExchange(name, ifUnused);
        return default;
    }

    ValueTask<IBrokerQueue?> IBrokerVhost.GetQueueAsync(string name, CancellationToken cancellationToken) => new(GetQueue(name));

    ValueTask<IReadOnlyList<QueueSummary>> IBrokerVhost.ListQueuesAsync(CancellationToken cancellationToken) =>
        new(ListQueues().Select(q => new QueueSummary(q.Definition, q.Status(), q.Incarnation)).ToList());

    ValueTask<(IBrokerQueue Queue, DeclareOutcome Outcome)> IBrokerVhost.DeclareQueueAsync(QueueDefinition definition, object? owner,
        CancellationToken cancellationToken) => new(DeclareQueue(definition, owner));

    ValueTask<IBrokerQueue> IBrokerVhost.DeclareServerNamedQueueAsync(QueueDefinition definition, object? owner, CancellationToken cancellationToken) =>
        new(DeclareServerNamedQueue(definition, owner));

    ValueTask<int> IBrokerVhost.DeleteQueueAsync(string name, bool ifUnused, bool ifEmpty, CancellationToken cancellationToken) =>
        new(DeleteQueue(name, ifUnused, ifEmpty));

    ValueTask IBrokerVhost.DeleteExclusiveQueuesAsync(object owner, CancellationToken cancellationToken)
    {
        DeleteExclusiveQueues(owner);
        return default;
    }

    ValueTask<IReadOnlyList<Binding>> IBrokerVhost.ListBindingsAsync(CancellationToken cancellationToken) => new(ListBindings());

    ValueTask<Binding?> IBrokerVhost.GetBindingAsync(string id, CancellationToken cancellationToken) => new(GetBinding(id));

    ValueTask<(Binding Binding, DeclareOutcome Outcome)> IBrokerVhost.BindAsync(Binding binding, CancellationToken cancellationToken) =>
        new(Bind(binding));

    ValueTask IBrokerVhost.UnbindAsync(string id, CancellationToken cancellationToken)
    {
        Unbind(id);
        return default;
    }

    ValueTask<PublishOutcome> IBrokerVhost.PublishAsync(string exchange, Message message, CancellationToken cancellationToken) =>
        PublishAsync(exchange, message);

    async ValueTask<BatchPublishOutcome> IBrokerVhost.PublishBatchAsync(string exchange, IReadOnlyList<Message> messages, IReadOnlyList<bool> mandatory,
        bool atomic, CancellationToken cancellationToken)
    {
        // One journal ticket for the whole batch: the answer waits for one group commit, not one per message.
        var ticket = _store is null ? null : new JournalTicket();
        PublishOutcome[] outcomes;
        if (atomic)
        {
            if (PublishAtomic(exchange, messages, mandatory, ticket, out var index, out var refusal) is not { } published)
                return new BatchPublishOutcome(null, refusal, index);
            outcomes = published;
        }
        else
        {
            switch (GetExchange(exchange))
            {
                case null: return new BatchPublishOutcome(null, BatchRefusal.ExchangeNotFound);
                case { Internal: true }: return new BatchPublishOutcome(null, BatchRefusal.ExchangeInternal);
            }
            outcomes = new PublishOutcome[messages.Count];
            for (var i = 0; i < outcomes.Length; i++)
            {
                outcomes[i] = PublishUnconfirmed(exchange, messages[i], ticket);
                if (outcomes[i].Status == PublishStatus.ExchangeNotFound) // deleted meanwhile
                {
                    ticket?.Release();
                    return new BatchPublishOutcome(null, BatchRefusal.ExchangeNotFound);
                }
            }
        }
        if (ticket is not null)
        {
            ticket.Release();
            await ticket.Committed.ConfigureAwait(false);
        }
        return new BatchPublishOutcome(outcomes);
    }
}
