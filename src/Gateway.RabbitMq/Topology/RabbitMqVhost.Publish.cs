using Gateway.Broker;
using Gateway.Broker.Messages;
using Gateway.Broker.Topology;
using Gateway.RabbitMq.Connections;
using Gateway.RabbitMq.Messages;
using RabbitMQ.Client.Exceptions;

namespace Gateway.RabbitMq.Topology;

// Publishing: publisher confirms on every path, through the vhost's pool of confirm channels.
//
// What each confirm outcome means here:
// - ack: routed (Queues = 1: RabbitMQ does not say how many queues took it) or, after a basic.return of the
//   mandatory publish, unroutable (Queues = 0; every publish is mandatory so that the server can answer 422);
// - nack: a full reject-publish queue, or a quorum queue without a leader (a node just died). RabbitMQ 3.10 keeps
//   nacking on that channel until the old leader is back, so the channel is retired and the message republished on a
//   fresh one, up to PublishAttempts times within PublishTimeout; still nacked: Rejected = 1, Queues = 0;
// - the channel closed with 404 naming this exchange: ExchangeNotFound; 403 naming it: ExchangeInternal (an internal
//   exchange); closed for another reason (another publish's error on the shared channel, a lost connection): the
//   message is in doubt and republished on a fresh channel (at-least-once: every message carries a message id, one is
//   set when it has none, so that duplicates can be recognised);
// - no confirm within PublishTimeout, or no node to republish to: BrokerUnavailableException (503), in doubt; the
//   channel is retired (the next publish gets a fresh one).
internal sealed partial class RabbitMqVhost
{
    public async ValueTask<PublishOutcome> PublishAsync(string exchange, Message message, CancellationToken cancellationToken = default)
    {
        var (refusal, outcomes) = await PublishCoreAsync(exchange, [message], cancellationToken).ConfigureAwait(false);
        return refusal switch
        {
            BatchRefusal.ExchangeNotFound => new PublishOutcome(PublishStatus.ExchangeNotFound, 0),
            BatchRefusal.ExchangeInternal => new PublishOutcome(PublishStatus.ExchangeInternal, 0),
            _ => outcomes![0],
        };
    }

    public async ValueTask<BatchPublishOutcome> PublishBatchAsync(string exchange, IReadOnlyList<Message> messages, IReadOnlyList<bool> mandatory, bool atomic,
        CancellationToken cancellationToken = default)
    {
        // AMQP transactions cannot refuse a batch for an unroutable mandatory message or a full reject-publish queue
        // (returns and overflow are only known at commit, when everything is already routed), and a tx channel cannot
        // be in confirm mode: an atomic batch is refused rather than half-promised.
        if (atomic) throw new FeatureNotSupportedException(RabbitMqBroker.BackendName, BrokerFeature.AtomicBatch, "An atomic batch (atomic=true)");
        if (messages.Count == 0) return new BatchPublishOutcome([]);
        var (refusal, outcomes) = await PublishCoreAsync(exchange, messages, cancellationToken).ConfigureAwait(false);
        return refusal != BatchRefusal.None ? new BatchPublishOutcome(null, refusal) : new BatchPublishOutcome(outcomes);
    }

    private async Task<(BatchRefusal Refusal, PublishOutcome[]? Outcomes)> PublishCoreAsync(string exchange, IReadOnlyList<Message> messages,
        CancellationToken cancellationToken)
    {
        var ids = new string[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (m.Properties.Headers?.GetValueOrDefault(Message.DelayHeader) is long delay && delay > 0)
                throw new FeatureNotSupportedException(RabbitMqBroker.BackendName, BrokerFeature.DelayedDelivery, "Delayed delivery (the x-delay header)");
            ids[i] = m.Properties.MessageId ?? Guid.NewGuid().ToString("N");
        }
        var outcomes = new PublishOutcome[messages.Count];
        var pending = Enumerable.Range(0, messages.Count).ToList();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.PublishTimeout);
        var nacked = new HashSet<int>();
        for (var attempt = 1; ; attempt++)
        {
            PublishChannel pooled;
            try
            {
                pooled = await Connection.GetPublishChannelAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw TimedOut();
            }
            // Publish all, then wait once for all the confirms (in order on the channel: its confirm lock is FIFO).
            var tasks = new Task[pending.Count];
            for (var k = 0; k < pending.Count; k++)
            {
                var m = messages[pending[k]];
                var props = AmqpMapping.ToBasicProperties(m.Properties, ids[pending[k]]);
                tasks[k] = pooled.Channel.BasicPublishAsync(exchange, m.RoutingKey, mandatory: true, props, m.Body, timeout.Token).AsTask();
            }
            try
            {
                await Task.WhenAll(tasks).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Each task is looked at below.
            }
            var retry = new List<int>();
            bool anyNack = false, anyClosed = false, timedOut = false;
            for (var k = 0; k < tasks.Length; k++)
            {
                var index = pending[k];
                var task = tasks[k];
                if (task.IsCompletedSuccessfully)
                {
                    outcomes[index] = new PublishOutcome(PublishStatus.Ok, 1);
                    nacked.Remove(index);
                    continue;
                }
                var error = task.Exception?.InnerException;
                switch (error)
                {
                    case PublishException { IsReturn: true }:
                        outcomes[index] = new PublishOutcome(PublishStatus.Ok, 0);
                        nacked.Remove(index);
                        break;
                    case PublishException:
                        anyNack = true;
                        nacked.Add(index);
                        retry.Add(index);
                        break;
                    case null or OperationCanceledException:
                        if (cancellationToken.IsCancellationRequested) throw new OperationCanceledException(cancellationToken);
                        timedOut = true;
                        break;
                    default:
                        var reason = AmqpErrors.Reason(error);
                        var text = reason?.ReplyText ?? "";
                        var names = text.Contains($"exchange '{exchange}'", StringComparison.Ordinal);
                        if (reason?.ReplyCode == 404 && names)
                        {
                            Connection.Retire(pooled);
                            return (BatchRefusal.ExchangeNotFound, null);
                        }
                        if (reason?.ReplyCode == 403 && names)
                        {
                            Connection.Retire(pooled);
                            return (BatchRefusal.ExchangeInternal, null);
                        }
                        if (reason is null && error is not (AlreadyClosedException or OperationInterruptedException or IOException or ObjectDisposedException))
                            throw error;
                        if (!anyClosed) Log.PublishChannelClosed(_broker.Logger, Name, reason?.ReplyCode ?? 0, reason?.ReplyText ?? error.Message);
                        anyClosed = true;
                        nacked.Remove(index);
                        retry.Add(index);
                        break;
                }
            }
            // A channel that let a confirm time out is not trusted again: the next publish gets a fresh one (a
            // channel whose queue process or leader went away can keep its publishes pending for good).
            if (anyNack || anyClosed || timedOut) Connection.Retire(pooled);
            if (anyNack) Log.ChannelReplacedAfterNack(_broker.Logger, exchange, Name, attempt);
            if (timedOut) throw TimedOut();
            if (retry.Count == 0) return (BatchRefusal.None, outcomes);
            if (attempt >= Options.PublishAttempts)
            {
                if (retry.Any(i => !nacked.Contains(i))) throw TimedOut();
                foreach (var i in retry) outcomes[i] = new PublishOutcome(PublishStatus.Ok, 0, Rejected: 1);
                return (BatchRefusal.None, outcomes);
            }
            pending = retry;
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50 << Math.Min(attempt - 1, 6)), timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw TimedOut();
            }
        }
    }

    private BrokerUnavailableException TimedOut() =>
        new($"RabbitMQ did not confirm the publish within {Options.PublishTimeout.TotalSeconds:0.#} s (Gateway:RabbitMq:PublishTimeout); it may or may not have been stored.",
            TimeSpan.FromSeconds(1));
}
