using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using FluentValidation;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using Gateway.Server.Contracts;
using Gateway.Server.Http;

namespace Gateway.Server.WebSockets;

/// <summary>
/// One WebSocket connection speaking <c>gateway.v1.json</c> (docs/websocket-protocol.md): many subscriptions,
/// acks and publishes over one socket.
/// </summary>
/// <remarks>
/// Client frames are handled one at a time, in order (so confirms come back in order). Each subscription has a pump
/// that reads its consumer's bounded buffer and sends; sends are serialized by one semaphore and awaited, so a slow
/// reader holds back the pumps, and the queue (not the server) keeps the messages. Close cases:
/// <list type="bullet">
/// <item>the client closes, or the socket breaks: every subscription is cancelled, unacked deliveries go back to their queues;</item>
/// <item>a frame over the size limit: closed with 1009, then as above;</item>
/// <item>a text frame that is not UTF-8: the WebSocket layer (System.Net.WebSockets) sends a close with 1007 and aborts
/// the connection at once (so the close frame may not reach the client), the receive fails, then as above;</item>
/// <item>the server stops: pumps stop taking deliveries and a close frame 1001 (going away) is sent (<see cref="CloseAsync"/>),
/// then as above.</item>
/// </list>
/// </remarks>
internal sealed class SocketSession(WebSocket socket, IBrokerVhost vhost, IValidator<PublishRequest> validator,
    JsonSerializerOptions json, GatewayLimitsOptions limits, Capacity.MemoryAlarm memory)
{
    public const string SubProtocol = "gateway.v1.json";
    private const int DefaultPrefetch = 100;

    private sealed class Subscription(string id, IBrokerQueue queue, IBrokerSubscription consumer, int prefetch, bool autoAck, bool binary)
    {
        public readonly string Id = id;
        // Both replaced (under the session's lock) when the backend lost the consumer and it was made again.
        public IBrokerQueue Queue = queue;
        public IBrokerSubscription Consumer = consumer;
        public readonly int Prefetch = prefetch;
        // Set under the session's lock when it ends (EndAsync); Stopped then ends a wait for the backend to come back.
        public bool Ending;
        private readonly CancellationTokenSource _stop = new();
        public CancellationToken Stopped => _stop.Token;
        public void Stop() => _stop.Cancel();
        // Every delivery of one subscription carries the same incarnation in its tag (the queue's in the embedded
        // engine, the consumer channel's on RabbitMQ): Outstanding keeps only the ids.
        public ulong TagIncarnation;
        public readonly bool AutoAck = autoAck;
        public readonly bool Binary = binary;
        public readonly SortedSet<long> Outstanding = [];
        public Task Pump = Task.CompletedTask;
        public bool CancelledByClient;
        private readonly Lock _watchLock = new();
        private IDisposable? _readWatch;
        private bool _forgotten;

        // The watch may be set after the subscription already ended (its queue deleted at once, or the read permission
        // gone before the watch was registered): it is disposed then rather than kept alive by every later change.
        public void SetReadWatch(IDisposable? watch)
        {
            lock (_watchLock)
                if (!_forgotten)
                {
                    _readWatch = watch;
                    return;
                }
            watch?.Dispose();
        }

        public void StopReadWatch()
        {
            IDisposable? watch;
            lock (_watchLock)
            {
                _forgotten = true;
                (watch, _readWatch) = (_readWatch, null);
            }
            watch?.Dispose();
        }
    }

    private readonly SemaphoreSlim _send = new(1, 1);

    /// <summary>
    /// Null when the user may do the operation on the resource, else why not (subscribe: read on the queue; publish:
    /// write on the exchange). Allows everything by default (authentication off).
    /// </summary>
    public Func<Security.Permission, string, string?> Authorize { get; init; } = static (_, _) => null;

    /// <summary>
    /// Watches the user's read permission on a queue: calls back when a change of permissions takes it away (see
    /// <see cref="Security.Access.WatchRead"/>). The subscription then ends with a <c>cancelled</c> frame, reason
    /// <c>access-refused</c>. Watches nothing by default (authentication off).
    /// </summary>
    public Func<string, Action, IDisposable>? WatchRead { get; init; }

    /// <summary>What the backend can do: a delayed publish or a nack with a delay is refused (501) where it cannot.</summary>
    public BrokerFeatures Features { get; init; } = MessageBroker.EmbeddedFeatures;

    /// <summary>
    /// Closes the socket from the server's side (e.g. 1008 when the key that opened it is revoked): the close frame
    /// goes out after any frame being sent; the client's answer ends <see cref="RunAsync"/>, or the socket is aborted
    /// if none comes within five seconds.
    /// </summary>
    public async Task CloseAsync(WebSocketCloseStatus status, string description)
    {
        // No delivery is taken after this: what is left in the subscriptions' buffers goes back to its queues unseen.
        _closing = true;
        await _send.WaitAsync();
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await socket.CloseOutputAsync(status, description, CancellationToken.None);
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException)
        {
            // Already gone.
        }
        finally
        {
            _send.Release();
        }
        _ = Task.Delay(TimeSpan.FromSeconds(5)).ContinueWith(_ => socket.Abort(), TaskScheduler.Default);
    }
    private volatile bool _closing;
    private readonly ArrayBufferWriter<byte> _frameBuffer = new(1024);
    private Utf8JsonWriter? _frameWriter;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly Dictionary<DeliveryTag, Subscription> _owned = [];
    private readonly JsonTypeInfo<ClientFrame> _clientFrame = (JsonTypeInfo<ClientFrame>)json.GetTypeInfo(typeof(ClientFrame));
    // Server frames are written by the source-generated context, which leaves out null members (each frame type uses few).
    private readonly JsonTypeInfo<ServerFrame> _serverFrame = Json.GatewayJsonContext.Default.ServerFrame;

    public async Task RunAsync(CancellationToken aborted)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                buffer.ResetWrittenCount();
                ValueWebSocketReceiveResult result;
                do
                {
                    result = await socket.ReceiveAsync(buffer.GetMemory(4096), aborted);
                    buffer.Advance(result.Count);
                    if (buffer.WrittenCount > limits.MaxRequestBodyBytes)
                    {
                        await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig,
                            $"Frames are limited to {limits.MaxRequestBodyBytes} bytes (Gateway:Limits:MaxRequestBodyBytes).", aborted);
                        return;
                    }
                } while (!result.EndOfMessage);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    // CloseReceived: the client closed first and awaits our answer; Closed: it answered our close (CloseAsync).
                    if (socket.State == WebSocketState.CloseReceived)
                        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, aborted);
                    return;
                }
                await HandleAsync(buffer.WrittenMemory, result.MessageType == WebSocketMessageType.Binary, aborted);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            // The client went away or the server is stopping: subscriptions are cancelled below.
        }
        finally
        {
            await CancelAllAsync();
            try
            {
                await vhost.DeleteExclusiveQueuesAsync(this);
            }
            catch (Exception e) when (e is BrokerException or BrokerUnavailableException)
            {
                // Already gone, or the backend is out of reach (its queues then end with their connection there).
            }
        }
    }

    // A text frame is one JSON frame. A binary frame is a publish whose payload travels raw (BinaryFrame): its JSON
    // header is the publish frame without payload and payloadEncoding.
    private async Task HandleAsync(ReadOnlyMemory<byte> data, bool binary, CancellationToken aborted)
    {
        ReadOnlyMemory<byte> json = data, rawPayload = default;
        if (binary && !BinaryFrame.TrySplit(data, out json, out rawPayload))
        {
            await ErrorAsync(null, StatusCodes.Status400BadRequest,
                "A binary frame is a publish: a 4-byte big-endian header length, that many bytes of JSON header, then the payload bytes.");
            return;
        }
        ClientFrame frame;
        try
        {
            frame = JsonSerializer.Deserialize(json.Span, _clientFrame) ?? throw new JsonException("A frame must be a JSON object, not null.");
        }
        catch (JsonException e)
        {
            await ErrorAsync(null, StatusCodes.Status400BadRequest,
                (binary ? "The header of the binary frame is not a valid gateway.v1.json publish: " : "The frame is not a valid gateway.v1.json frame: ") + e.Message);
            return;
        }
        try
        {
            if (binary)
            {
                await PublishBinaryAsync(frame, rawPayload);
                return;
            }
            switch (frame.Type)
            {
                case "subscribe": await SubscribeAsync(frame, aborted); break;
                case "cancel": await CancelAsync(frame); break;
                case "ack": await SettleAsync(frame, ack: true); break;
                case "nack": await SettleAsync(frame, ack: false); break;
                case "publish": await PublishAsync(frame, null); break;
                case "ping": await SendAsync(new ServerFrame { Type = "pong", Id = frame.Id }); break;
                case "declare": await DeclareAsync(frame); break;
                default:
                    await ErrorAsync(frame.Id, StatusCodes.Status400BadRequest,
                        $"Unknown frame type '{frame.Type}'; expected subscribe, cancel, ack, nack, publish, ping or declare.");
                    break;
            }
        }
        catch (BrokerException e)
        {
            await ErrorAsync(frame.Id, Problems.StatusOf(e.Error), e.Message);
        }
        catch (BrokerUnavailableException e)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status503ServiceUnavailable, e.Message);
        }
        catch (FeatureNotSupportedException e)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status501NotImplemented, e.Message);
        }
        catch (StorageException e)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status503ServiceUnavailable, "The operation could not be stored, so it was not confirmed: " + e.Message);
        }
    }

    private async Task SubscribeAsync(ClientFrame frame, CancellationToken aborted)
    {
        if (string.IsNullOrEmpty(frame.Id) || frame.Id.Length > 255)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status400BadRequest, "'id' must name the subscription (1 to 255 characters).");
            return;
        }
        var prefetch = frame.Prefetch ?? Math.Min(DefaultPrefetch, limits.MaxPrefetch);
        if (prefetch < 1 || prefetch > limits.MaxPrefetch)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status400BadRequest, $"'prefetch' must be from 1 to {limits.MaxPrefetch} (Gateway:Limits:MaxPrefetch).");
            return;
        }
        if (string.IsNullOrEmpty(frame.Queue))
        {
            await ErrorAsync(frame.Id, StatusCodes.Status400BadRequest, "'queue' must name the queue to subscribe to.");
            return;
        }
        if (Authorize(Security.Permission.Read, frame.Queue) is { } denied)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status403Forbidden, denied);
            return;
        }
        if (await vhost.GetQueueAsync(frame.Queue, aborted) is not { } queue)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status404NotFound, $"No queue '{frame.Queue}' in vhost '{vhost.Name}'.");
            return;
        }
        queue.RequireAccess(this); // another socket's exclusive queue: 409 resource-locked
        bool taken;
        lock (_lock) taken = _subscriptions.ContainsKey(frame.Id);
        Subscription? subscription = null;
        if (!taken)
        {
            var consumer = await queue.SubscribeAsync(prefetch, aborted);
            lock (_lock)
            {
                // Another subscribe frame with this id cannot have come in meanwhile: frames are handled one at a time.
                subscription = new Subscription(frame.Id, queue, consumer, prefetch, frame.AckMode == AckMode.Auto, frame.PayloadFormat == PayloadFormat.Binary);
                _subscriptions[frame.Id] = subscription;
            }
        }
        if (subscription is null)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status409Conflict, $"A subscription '{frame.Id}' is already active on this socket.");
            return;
        }
        await SendAsync(new ServerFrame { Type = "subscribed", Id = frame.Id });
        subscription.Pump = Task.Run(() => PumpAsync(subscription, aborted), CancellationToken.None);
        subscription.SetReadWatch(WatchRead?.Invoke(queue.Name, () => _ = Task.Run(() => RefuseAsync(subscription))));
    }

    // The user may no longer read the subscription's queue: it ends as a cancel would (unacked deliveries go back),
    // and the client is told why.
    private async Task RefuseAsync(Subscription subscription)
    {
        lock (_lock)
            if (!_subscriptions.TryGetValue(subscription.Id, out var current) || current != subscription) return;
        await EndAsync(subscription);
        try
        {
            await subscription.Pump;
            await SendAsync(new ServerFrame
            {
                Type = "cancelled", Id = subscription.Id, Reason = "access-refused",
                Detail = $"The user may no longer read queue '{subscription.Queue.Name}': its permissions changed.",
            });
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The socket went away meanwhile.
        }
    }

    // Sends a subscription's deliveries in order. Ends when its consumer ends (cancel, queue deleted, socket gone); when
    // the backend lost the consumer, the subscription is suspended and made again once the backend answers (ResumeAsync).
    private async Task PumpAsync(Subscription subscription, CancellationToken aborted)
    {
        try
        {
            while (true)
            {
                await SendDeliveriesAsync(subscription, aborted);
                if (subscription.CancelledByClient) return;
                if (subscription.Consumer.EndReason == ConsumerEndReason.QueueDeleted)
                {
                    await EndQueueDeletedAsync(subscription);
                    return;
                }
                if (subscription.Consumer.EndReason != ConsumerEndReason.BackendUnavailable || _closing || !await ResumeAsync(subscription, aborted)) return;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or BrokerException or StorageException or ObjectDisposedException)
        {
            // The socket is gone (its subscriptions are cancelled by RunAsync), the subscription ended while it waited for
            // the backend, or an auto-ack met a deleted queue.
        }
    }

    // Whatever is buffered is sent as one run under the send lock (one lock round per run, not per frame), and an
    // auto-ack subscription acknowledges the run once it has been sent. Returns when the consumer has ended.
    private async Task SendDeliveriesAsync(Subscription subscription, CancellationToken aborted)
    {
        var reader = subscription.Consumer.Deliveries;
        var sent = new List<DeliveryTag>();
        while (await reader.WaitToReadAsync(aborted))
        {
            sent.Clear();
            await _send.WaitAsync(aborted);
            try
            {
                // Closing: what is left in the buffer was never seen and goes back to the queue unmarked.
                while (!_closing && reader.TryRead(out var delivery))
                {
                    if (!subscription.AutoAck)
                        lock (_lock)
                        {
                            subscription.TagIncarnation = delivery.Tag.Incarnation;
                            subscription.Outstanding.Add(delivery.Tag.Id);
                            _owned[delivery.Tag] = subscription;
                        }
                    await SendDeliveryLockedAsync(subscription, delivery);
                    sent.Add(delivery.Tag);
                }
            }
            finally
            {
                _send.Release();
            }
            if (subscription.AutoAck && sent.Count > 0) await subscription.Queue.AckAsync(sent);
        }
    }

    private async Task EndQueueDeletedAsync(Subscription subscription)
    {
        Forget(subscription);
        await SendAsync(new ServerFrame { Type = "cancelled", Id = subscription.Id, Reason = "queue-deleted" });
    }

    // The backend lost the consumer (e.g. the RabbitMQ node holding it went away): its unacknowledged deliveries go back
    // to the queue there and come again redelivered, so their tags are dropped here. The client is told (suspended),
    // the subscription keeps its id and its place on the socket, and is made again as soon as the backend answers
    // (restored). False when it ended meanwhile: the client cancelled, the socket closed, or the queue is gone.
    private async Task<bool> ResumeAsync(Subscription subscription, CancellationToken aborted)
    {
        ForgetOutstanding(subscription);
        await SendAsync(new ServerFrame
        {
            Type = "suspended", Id = subscription.Id, Reason = "backend-unavailable",
            Detail = "The broker backend went away; the subscription resumes by itself when it is back. Deliveries not acknowledged " +
                     "come again, redelivered, and their old delivery tags are no longer valid.",
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(aborted, subscription.Stopped);
        (IBrokerQueue, IBrokerSubscription)? restored;
        try
        {
            restored = await Http.Resubscription.SubscribeAgainAsync(vhost, subscription.Queue.Name, subscription.Prefetch, this, stop.Token);
        }
        catch (BrokerException e)
        {
            // Back, but the queue refuses a consumer now (e.g. it became another connection's exclusive queue).
            Forget(subscription);
            await SendAsync(new ServerFrame
            {
                Type = "cancelled", Id = subscription.Id, Reason = "backend-unavailable",
                Detail = "The broker backend came back but refused the subscription: " + e.Message,
            });
            return false;
        }
        if (restored is not var (queue, consumer))
        {
            await EndQueueDeletedAsync(subscription);
            return false;
        }
        bool ending;
        lock (_lock)
        {
            ending = subscription.Ending;
            if (!ending) (subscription.Queue, subscription.Consumer) = (queue, consumer);
        }
        if (ending)
        {
            await consumer.CancelAsync(); // ended while the backend came back: this consumer was never the client's
            return false;
        }
        await SendAsync(new ServerFrame { Type = "restored", Id = subscription.Id });
        return true;
    }

    // Under the send lock. JSON: the payload as text or base64 in the frame. Binary: the frame without payload fields as
    // the header, the payload's bytes as they are after it.
    private ValueTask SendDeliveryLockedAsync(Subscription subscription, Delivery delivery)
    {
        var message = delivery.Message;
        var frame = new ServerFrame
        {
            Type = "delivery", Subscription = subscription.Id, DeliveryTag = delivery.Tag.ToString(), Redelivered = delivery.Redelivered,
            DeliveryCount = delivery.DeliveryCount, Exchange = MessageMapping.ApiExchangeName(message.Exchange), RoutingKey = message.RoutingKey,
            Properties = MessageMapping.ToSharedDto(message.Properties),
        };
        if (subscription.Binary) return SendLockedAsync(frame, message.Body);
        (frame.Payload, frame.PayloadEncoding) = MessageMapping.EncodePayload(message.Body.Span);
        return SendLockedAsync(frame);
    }

    private async Task CancelAsync(ClientFrame frame)
    {
        if (string.IsNullOrEmpty(frame.Id))
        {
            await ErrorAsync(frame.Id, StatusCodes.Status400BadRequest, "'id' must name the subscription to cancel.");
            return;
        }
        Subscription? subscription;
        lock (_lock) _subscriptions.TryGetValue(frame.Id, out subscription);
        if (subscription is null)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status404NotFound, $"No subscription '{frame.Id}' on this socket.");
            return;
        }
        subscription.CancelledByClient = true;
        await EndAsync(subscription);
        await subscription.Pump;
        await SendAsync(new ServerFrame { Type = "cancelled", Id = subscription.Id, Reason = "client" });
    }

    // Cancels the consumer (its unacked deliveries return to the queue) and forgets the subscription.
    private async Task EndAsync(Subscription subscription)
    {
        Forget(subscription);
        IBrokerSubscription consumer;
        lock (_lock)
        {
            subscription.Ending = true;
            consumer = subscription.Consumer;
        }
        subscription.Stop(); // a wait for the backend to come back ends too
        try
        {
            await consumer.CancelAsync();
        }
        catch (BrokerUnavailableException)
        {
            // The backend is out of reach: the consumer ended with its connection, and its deliveries go back there.
        }
    }

    private void Forget(Subscription subscription)
    {
        subscription.StopReadWatch();
        lock (_lock) _subscriptions.Remove(subscription.Id);
        ForgetOutstanding(subscription);
    }

    private void ForgetOutstanding(Subscription subscription)
    {
        lock (_lock)
        {
            foreach (var id in subscription.Outstanding) _owned.Remove(new DeliveryTag(subscription.TagIncarnation, id));
            subscription.Outstanding.Clear();
        }
    }

    private async Task SettleAsync(ClientFrame frame, bool ack)
    {
        if (!DeliveryTag.TryParse(frame.DeliveryTag, out var tag))
        {
            await ErrorAsync(frame.Id, StatusCodes.Status400BadRequest, $"'{frame.DeliveryTag}' is not a delivery tag.");
            return;
        }
        if (!ack && frame.DelayMilliseconds is { } delay && (delay is < 0 or > uint.MaxValue || frame.Requeue == false))
        {
            await ErrorAsync(frame.Id, StatusCodes.Status400BadRequest,
                $"'delayMilliseconds' must be from 0 to {uint.MaxValue}, and only with requeue=true.");
            return;
        }
        // Refused before the tags are taken from the session: the deliveries stay the client's to settle.
        if (!ack && frame.DelayMilliseconds is > 0) Features.Require(BrokerFeature.NackWithDelay, "A nack with delayMilliseconds");
        Subscription? subscription;
        List<DeliveryTag> tags;
        lock (_lock)
        {
            if (!_owned.TryGetValue(tag, out subscription))
            {
                tags = [];
            }
            else
            {
                tags = frame.Multiple == true
                    ? subscription.Outstanding.GetViewBetween(long.MinValue, tag.Id).Select(id => new DeliveryTag(tag.Incarnation, id)).ToList()
                    : [tag];
                foreach (var settled in tags)
                {
                    subscription.Outstanding.Remove(settled.Id);
                    _owned.Remove(settled);
                }
            }
        }
        if (subscription is null)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status404NotFound,
                $"Unknown delivery tag '{frame.DeliveryTag}' on this socket: already settled, or delivered to another consumer.");
            return;
        }
        if (ack) await subscription.Queue.AckAsync(tags);
        else await subscription.Queue.NackAsync(tags, frame.Requeue ?? true, frame.DelayMilliseconds is > 0 and var ms ? TimeSpan.FromMilliseconds(ms) : null);
    }

    private async Task PublishBinaryAsync(ClientFrame frame, ReadOnlyMemory<byte> payload)
    {
        if (frame.Type != "publish")
        {
            await ErrorAsync(frame.Id, StatusCodes.Status400BadRequest,
                $"Binary frames carry publishes only; send '{frame.Type}' as a JSON text frame.");
            return;
        }
        if (frame.Payload is not null || frame.PayloadEncoding is not null)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status400BadRequest,
                "The header of a binary publish has no 'payload' or 'payloadEncoding': the payload is the rest of the frame.");
            return;
        }
        await PublishAsync(frame, payload);
    }

    // rawPayload: the payload of a binary publish (the frame's tail), else null and the payload is in the JSON frame.
    private async Task PublishAsync(ClientFrame frame, ReadOnlyMemory<byte>? rawPayload)
    {
        if (frame.Payload is null && rawPayload is null)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status400BadRequest, "'payload' is required to publish.");
            return;
        }
        var request = new PublishRequest
        {
            RoutingKey = frame.RoutingKey ?? "", Payload = frame.Payload ?? "", PayloadEncoding = frame.PayloadEncoding ?? PayloadEncoding.String,
            Properties = frame.Properties, Mandatory = frame.Mandatory ?? false,
        };
        var validation = validator.Validate(request);
        if (!validation.IsValid)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status400BadRequest, validation.Errors[0].ErrorMessage);
            return;
        }
        var exchange = frame.Exchange ?? Broker.Names.DefaultExchangeAlias;
        // The permission's resource is the API's name: "" (the default exchange on the wire of AMQP) is checked as amq.default.
        if (Authorize(Security.Permission.Write, MessageMapping.ApiExchangeName(exchange)) is { } denied)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status403Forbidden, denied);
            return;
        }
        if (memory.IsRaised)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status503ServiceUnavailable, memory.Detail);
            return;
        }
        var name = MessageMapping.ExchangeName(exchange);
        // The receive buffer is reused for the next frame: a raw payload is copied once, into the message's own body.
        var message = rawPayload is { } raw
            ? raw.Length > limits.MaxMessageBytes ? null : new Message(name, request.RoutingKey, MessageMapping.ToProperties(request.Properties), raw.ToArray())
            : MessageMapping.ToMessage(name, request, limits.MaxMessageBytes);
        if (message is null)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status413PayloadTooLarge, $"The message is larger than {limits.MaxMessageBytes} bytes (Gateway:Limits:MaxMessageBytes).");
            return;
        }
        if (message.Properties.Headers is { } delayed && delayed.ContainsKey(Message.DelayHeader))
            Features.Require(BrokerFeature.DelayedDelivery, "A delayed message (header x-delay)");
        var outcome = await vhost.PublishAsync(name, message);
        switch (outcome.Status)
        {
            case PublishStatus.ExchangeNotFound:
                await ErrorAsync(frame.Id, StatusCodes.Status404NotFound, $"No exchange '{exchange}' in vhost '{vhost.Name}'.");
                return;
            case PublishStatus.ExchangeInternal:
                await ErrorAsync(frame.Id, StatusCodes.Status403Forbidden, $"Exchange '{exchange}' is internal: only other exchanges may route to it.");
                return;
        }
        if (outcome.Rejected > 0)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status409Conflict, PublishRefusals.RejectedDetail(outcome));
            return;
        }
        if (!outcome.Routed && request.Mandatory)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status422UnprocessableEntity,
                $"The message is mandatory and no queue took it from exchange '{exchange}' with routing key '{request.RoutingKey}'.");
            return;
        }
        await SendAsync(new ServerFrame { Type = "confirm", Id = frame.Id, Routed = outcome.Routed, Queues = outcome.Queues });
    }

    private Task ErrorAsync(string? id, int status, string detail) =>
        SendAsync(new ServerFrame { Type = "error", Id = id, Status = status, Detail = detail });

    private async Task SendAsync(ServerFrame frame)
    {
        await _send.WaitAsync();
        try
        {
            await SendLockedAsync(frame);
        }
        finally
        {
            _send.Release();
        }
    }

    // Under the send lock: serializes into one reused buffer (no array per frame) and sends it. With a binary payload,
    // the frame is binary: the JSON is its length-prefixed header and the payload follows it (BinaryFrame).
    private async ValueTask SendLockedAsync(ServerFrame frame, ReadOnlyMemory<byte>? binaryPayload = null)
    {
        _frameBuffer.ResetWrittenCount();
        if (binaryPayload is not null) BinaryFrame.BeginHeader(_frameBuffer);
        // One writer for the socket's life, reset onto the buffer for each frame (the send lock makes it exclusive).
        var writer = _frameWriter ??= new Utf8JsonWriter(_frameBuffer);
        writer.Reset(_frameBuffer);
        JsonSerializer.Serialize(writer, frame, _serverFrame);
        if (binaryPayload is { } payload) BinaryFrame.EndHeader(_frameBuffer, payload.Span);
        if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            await socket.SendAsync(_frameBuffer.WrittenMemory, binaryPayload is null ? WebSocketMessageType.Text : WebSocketMessageType.Binary,
                endOfMessage: true, CancellationToken.None);
    }

    // A queue declared on this socket; an exclusive one is this socket's (see the engine's DeclareQueue).
    private async Task DeclareAsync(ClientFrame frame)
    {
        var name = frame.Queue ?? "";
        if (Authorize(Security.Permission.Configure, name.Length == 0 ? "amq.gen-" : name) is { } denied)
        {
            await ErrorAsync(frame.Id, StatusCodes.Status403Forbidden, denied);
            return;
        }
        var exclusive = frame.Exclusive ?? false;
        var definition = new QueueDefinition(name, frame.Durable ?? !exclusive, exclusive, frame.AutoDelete ?? false, frame.Arguments);
        var queue = name.Length == 0 ? await vhost.DeclareServerNamedQueueAsync(definition, this) : (await vhost.DeclareQueueAsync(definition, this)).Queue;
        await SendAsync(new ServerFrame { Type = "declared", Id = frame.Id, Queue = queue.Name });
    }

    private async Task CancelAllAsync()
    {
        List<Subscription> all;
        lock (_lock) all = [.. _subscriptions.Values];
        try
        {
            await Task.WhenAll(all.Select(EndAsync));
            await Task.WhenAll(all.Select(s => s.Pump));
        }
        catch (Exception)
        {
            // Pumps end with the socket; their exceptions were handled where they could be.
        }
    }
}
