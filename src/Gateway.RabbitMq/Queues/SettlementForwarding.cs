using System.Collections.Concurrent;
using System.Text.Json;
using Gateway.Broker;
using Gateway.Broker.Queues;
using Gateway.RabbitMq.Connections;
using Gateway.RabbitMq.Topology;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Gateway.RabbitMq.Queues;

/// <summary>
/// Settlements of deliveries held by another gateway node: AMQP delivery tags belong to one channel on one node, so an
/// ack, nack, reject or lease extension that reaches the wrong node is forwarded to the node that holds the delivery.
/// </summary>
/// <remarks>
/// <para>Each node declares, on its connection to RabbitMQ's default vhost <c>/</c>, a classic, exclusive, auto-delete
/// queue named after its node hash (<see cref="QueueName"/>) and consumes it. A forwarded settlement is a small JSON
/// request published to the owner's queue through the default exchange, mandatory, with RabbitMQ's direct reply-to
/// (<c>amq.rabbitmq.reply-to</c>) and a correlation id; the owner performs it locally and answers ok or the
/// <see cref="BrokerException"/>'s error and message, which the caller rethrows as the same exception.</para>
/// <para>The owner is gone when its queue is (the exclusive queue dies with its connection): the publish comes back
/// unroutable at once. A node that hangs is given <see cref="RabbitMqOptions.ForwardTimeout"/>. Both are answered
/// <see cref="BrokerError.LeaseExpired"/>: the channel that held the delivery is closed or will be, and RabbitMQ
/// requeues what it held. A tag naming no node that ever lived gets the same answer (a node hash cannot tell the two
/// apart).</para>
/// <para>Authentication is RabbitMQ's own: only clients that logged in to the cluster with write permission on
/// <c>/</c> can publish to a node queue, and a request must carry the AMQP <c>user-id</c> property, which RabbitMQ
/// checks against the user the publisher authenticated as; the owner accepts only the users of its own configured
/// endpoints (the cluster's gateway credentials). Requests that fail either check are dropped without an answer.</para>
/// </remarks>
internal sealed class SettlementForwarding : IAsyncDisposable
{
    private const string ReplyTo = "amq.rabbitmq.reply-to";

    private readonly RabbitMqBroker _broker;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<Reply>> _waiting = new(StringComparer.Ordinal);
    private readonly HashSet<string> _trustedUsers;
    private readonly string _user;
    private IChannel? _listener;
    private IChannel? _requester;
    private volatile bool _disposed;
    private int _relistening;

    public SettlementForwarding(RabbitMqBroker broker)
    {
        _broker = broker;
        var endpoints = broker.Options.AmqpEndpoints;
        _user = RabbitMqOptions.Credentials(endpoints[0]).User;
        _trustedUsers = endpoints.Select(u => RabbitMqOptions.Credentials(u).User).ToHashSet(StringComparer.Ordinal);
        QueueName = QueueNameOf(broker.Slots.NodeHash);
    }

    /// <summary>This node's queue: <c>gateway.node.&lt;node hash as 8 hex digits&gt;</c>.</summary>
    public string QueueName { get; }

    public static string QueueNameOf(uint nodeHash) => $"gateway.node.{nodeHash:x8}";

    private VhostConnection Connection => _broker.ConnectionOf("/");

    // ---------------------------------------------------------------- the owner's side

    /// <summary>
    /// Declares and consumes this node's queue unless it already does: called before a delivery tag is handed out, so
    /// that a settlement of it reaching another node finds the way back. A failure is logged, not thrown: the tag still
    /// works here, and elsewhere it is answered LeaseExpired.
    /// </summary>
    public async ValueTask EnsureListeningAsync(CancellationToken cancellationToken)
    {
        if (_listener is { IsOpen: true } || _disposed) return;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_listener is { IsOpen: true } || _disposed) return;
            var channel = await Connection.OpenChannelAsync(confirms: false, cancellationToken).ConfigureAwait(false);
            try
            {
                await channel.QueueDeclareAsync(QueueName, durable: false, exclusive: true, autoDelete: true,
                    new Dictionary<string, object?> { ["x-queue-type"] = "classic" }, cancellationToken: cancellationToken).ConfigureAwait(false);
                var consumer = new AsyncEventingBasicConsumer(channel);
                consumer.ReceivedAsync += (_, e) =>
                {
                    // Off the dispatcher: the settlement awaits other channels.
                    var request = (e.BasicProperties.ReplyTo, e.BasicProperties.CorrelationId, e.BasicProperties.UserId, Body: e.Body.ToArray());
                    _ = Task.Run(() => ServeAsync(request.ReplyTo, request.CorrelationId, request.UserId, request.Body));
                    return Task.CompletedTask;
                };
                await channel.BasicConsumeAsync(QueueName, autoAck: true, consumer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception)
            {
                await VhostConnection.CloseQuietlyAsync(channel).ConfigureAwait(false);
                throw;
            }
            channel.ChannelShutdownAsync += (_, _) =>
            {
                Relisten();
                return Task.CompletedTask;
            };
            _listener = channel;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            Log.NodeQueueFailed(_broker.Logger, QueueName, e.Message);
        }
        finally
        {
            _gate.Release();
        }
    }

    // The queue went with its connection (or channel): declare it again while this node holds deliveries.
    private void Relisten()
    {
        if (_disposed || Interlocked.Exchange(ref _relistening, 1) != 0) return;
        _ = Task.Run(async () =>
        {
            try
            {
                while (!_disposed && _listener is not { IsOpen: true } && _broker.Slots.All.Any())
                {
                    await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                    await EnsureListeningAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
            finally
            {
                Volatile.Write(ref _relistening, 0);
            }
        });
    }

    private async Task ServeAsync(string? replyTo, string? correlationId, string? userId, byte[] body)
    {
        if (replyTo is null || correlationId is null || userId is null || !_trustedUsers.Contains(userId)) return;
        Reply reply;
        try
        {
            var request = JsonSerializer.Deserialize(body, ForwardingJson.Default.SettlementRequest)
                ?? throw new BrokerException(BrokerError.InvalidArgument, "Empty settlement request.");
            await PerformAsync(request).ConfigureAwait(false);
            reply = new Reply(true, null, null);
        }
        catch (BrokerException e)
        {
            reply = new Reply(false, e.Error.ToString(), e.Message);
        }
        catch (Exception e) when (e is BrokerUnavailableException || AmqpErrors.Map(e) is not null || e is JsonException)
        {
            reply = new Reply(false, nameof(BrokerError.LeaseExpired),
                $"The gateway node that holds the delivery could not settle it ({e.Message}); RabbitMQ requeues it if its channel closed.");
        }
        try
        {
            var channel = await RequesterAsync(CancellationToken.None).ConfigureAwait(false);
            var props = new BasicProperties { CorrelationId = correlationId };
            await channel.BasicPublishAsync("", replyTo, mandatory: false, props,
                JsonSerializer.SerializeToUtf8Bytes(reply, ForwardingJson.Default.Reply)).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The requester went away meanwhile, or this node lost RabbitMQ: it times out and answers LeaseExpired.
            Log.ForwardReplyFailed(_broker.Logger, e.Message);
        }
    }

    private async Task PerformAsync(SettlementRequest r)
    {
        var vhost = new RabbitMqVhost(_broker, RabbitMqBroker.FromRabbitVhost(r.Vhost), _broker.ConnectionOf(r.Vhost));
        var queue = new RabbitMqQueue(_broker, vhost, new QueueDefinition(r.Queue));
        var tags = r.Tags.Select(t => new DeliveryTag(t[0], (long)t[1])).ToList();
        if (tags.Any(t => !_broker.Slots.IsLocal(t)))
            throw new BrokerException(BrokerError.NotFound, "A forwarded settlement named a delivery of another gateway node.");
        switch (r.Operation)
        {
            case "ack": await _broker.Leases.SettleAsync(queue, tags, ack: true, requeue: false).ConfigureAwait(false); break;
            case "nack": await _broker.Leases.SettleAsync(queue, tags, ack: false, r.Requeue).ConfigureAwait(false); break;
            case "extend": _broker.Leases.Extend(queue, tags, TimeSpan.FromMilliseconds(r.LeaseMilliseconds)); break;
            default: throw new BrokerException(BrokerError.InvalidArgument, $"Unknown forwarded settlement '{r.Operation}'.");
        }
    }

    // ---------------------------------------------------------------- the caller's side

    /// <summary>
    /// Sends a settlement of deliveries held by the node with <paramref name="ownerHash"/> and waits for its answer;
    /// rethrows the owner's <see cref="BrokerException"/>, or LeaseExpired when the owner is gone or does not answer
    /// within <see cref="RabbitMqOptions.ForwardTimeout"/>.
    /// </summary>
    public async Task ForwardAsync(uint ownerHash, RabbitMqQueue queue, string operation, IReadOnlyCollection<DeliveryTag> tags, bool requeue, TimeSpan lease)
    {
        var request = new SettlementRequest(queue.VirtualHost.RabbitName, queue.Name, operation,
            tags.Select(t => new[] { t.Incarnation, (ulong)t.Id }).ToList(), requeue, (long)lease.TotalMilliseconds);
        var correlationId = Guid.NewGuid().ToString("N");
        var answer = new TaskCompletionSource<Reply>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[correlationId] = answer;
        using var timeout = new CancellationTokenSource(_broker.Options.ForwardTimeout);
        try
        {
            var channel = await RequesterAsync(timeout.Token).ConfigureAwait(false);
            var props = new BasicProperties { ReplyTo = ReplyTo, CorrelationId = correlationId, UserId = _user, Expiration = ((long)_broker.Options.ForwardTimeout.TotalMilliseconds).ToString() };
            try
            {
                await channel.BasicPublishAsync("", QueueNameOf(ownerHash), mandatory: true, props,
                    JsonSerializer.SerializeToUtf8Bytes(request, ForwardingJson.Default.SettlementRequest), timeout.Token).ConfigureAwait(false);
            }
            catch (PublishException e) when (e.IsReturn)
            {
                throw OwnerGone(ownerHash, "it has no queue any more");
            }
            var reply = await answer.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
            if (reply.Ok) return;
            throw new BrokerException(Enum.TryParse<BrokerError>(reply.Error, out var error) ? error : BrokerError.LeaseExpired, reply.Message ?? "Refused by the owner node.");
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            throw OwnerGone(ownerHash, $"it did not answer within {_broker.Options.ForwardTimeout.TotalSeconds:0.#} s");
        }
        finally
        {
            _waiting.TryRemove(correlationId, out _);
        }
    }

    private static BrokerException OwnerGone(uint ownerHash, string why) =>
        new(BrokerError.LeaseExpired,
            $"The gateway node that held the delivery (node hash {ownerHash:x8}) is gone ({why}); RabbitMQ has requeued the message.");

    // One confirm-mode channel consuming amq.rabbitmq.reply-to: requests go out on it (direct reply-to answers come to
    // the channel that published), and so do the owner's answers.
    private async ValueTask<IChannel> RequesterAsync(CancellationToken cancellationToken)
    {
        if (_requester is { IsOpen: true } open) return open;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_requester is { IsOpen: true } again) return again;
            var channel = await Connection.OpenChannelAsync(confirms: true, cancellationToken).ConfigureAwait(false);
            try
            {
                var consumer = new AsyncEventingBasicConsumer(channel);
                consumer.ReceivedAsync += (_, e) =>
                {
                    if (e.BasicProperties.CorrelationId is { } id && _waiting.TryRemove(id, out var waiting))
                    {
                        try { waiting.TrySetResult(JsonSerializer.Deserialize(e.Body.Span, ForwardingJson.Default.Reply) ?? new Reply(false, null, null)); }
                        catch (JsonException) { waiting.TrySetResult(new Reply(false, null, "The owner node's answer was unreadable.")); }
                    }
                    return Task.CompletedTask;
                };
                await channel.BasicConsumeAsync(ReplyTo, autoAck: true, consumer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await VhostConnection.CloseQuietlyAsync(channel).ConfigureAwait(false);
                if (!cancellationToken.IsCancellationRequested && AmqpErrors.Map(e) is { } mapped) throw mapped;
                throw;
            }
            _requester = channel;
            return channel;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        if (_listener is { } listener) await VhostConnection.CloseQuietlyAsync(listener).ConfigureAwait(false);
        if (_requester is { } requester) await VhostConnection.CloseQuietlyAsync(requester).ConfigureAwait(false);
        foreach (var waiting in _waiting.Values) waiting.TrySetCanceled();
    }

    internal sealed record SettlementRequest(string Vhost, string Queue, string Operation, List<ulong[]> Tags, bool Requeue, long LeaseMilliseconds);

    internal sealed record Reply(bool Ok, string? Error, string? Message);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(SettlementForwarding.SettlementRequest))]
[System.Text.Json.Serialization.JsonSerializable(typeof(SettlementForwarding.Reply))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class ForwardingJson : System.Text.Json.Serialization.JsonSerializerContext;
