using System.Security.Cryptography;
using Gateway.Amqp.Protocol;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;

namespace Gateway.Amqp.Connections;

/// <summary>
/// One channel of an <see cref="AmqpConnection"/>: its methods (exchange, queue, basic, confirm, tx), the content of
/// the message being published, its consumers, its unacknowledged deliveries and its publisher confirms.
/// </summary>
/// <remarks>
/// Threads: methods and content arrive on the connection's read loop, one at a time. Consumer pumps (one per
/// consumer) and the completions of publishes that wait for the journal run elsewhere; what they share with the read
/// loop (unacknowledged deliveries, consumers, the state) is under <see cref="_lock"/>, the confirm sequence under
/// <see cref="_confirmLock"/>. Lock order: confirm lock, then channel lock, then the connection's send lock.
/// </remarks>
internal sealed partial class AmqpChannel
{
    /// <summary>How long a message taken with basic.get may stay unacknowledged before the engine takes it back.</summary>
    private static readonly TimeSpan GetLease = TimeSpan.FromDays(1);

    private enum ChannelState { Open, Closing, Finished }
    private enum Content { None, ExpectHeader, ExpectBody }

    private readonly AmqpConnection _connection;
    private readonly ushort _number;
    private readonly Lock _lock = new();
    private ChannelState _state;
    private bool _ended;

    // Content of the message being published.
    private Content _content;
    private string _publishExchange = "";
    private string _publishRoutingKey = "";
    private bool _publishMandatory;
    private MessageProperties _publishProperties = MessageProperties.Empty;
    private byte[] _body = [];
    private int _bodyFilled;
    private readonly ShortStringCache _exchangeNames = new();
    private readonly ShortStringCache _routingKeys = new();
    private string? _writableExchange;

    // Consumers and deliveries.
    private readonly Dictionary<string, AmqpConsumer> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, Unacked> _unacked = [];
    private ulong _lastDeliveryTag;
    private ushort _consumerPrefetch;
    private SemaphoreSlim? _channelCredit;
    private int _channelPrefetch;
    private TaskCompletionSource? _flowPaused;
    private string? _lastQueue;

    // Publisher confirms and transactions.
    private readonly Lock _confirmLock = new();
    private bool _confirm;
    private long _published;
    private long _settledUpTo;
    private long _ackRunEnd;
    private long _ackWritten;
    private readonly Dictionary<long, bool> _earlyConfirms = [];
    private bool _tx;
    private readonly List<(Message Message, bool Mandatory)> _txPublishes = [];
    private readonly List<(ulong Tag, bool Multiple, Settlement Kind, bool Requeue)> _txSettlements = [];

    private enum Settlement { Ack, Nack }

    /// <summary>A delivery the client has not settled: where it came from and which consumer (null: basic.get) holds it.</summary>
    private readonly record struct Unacked(IBrokerQueue Queue, DeliveryTag Tag, AmqpConsumer? Consumer, SemaphoreSlim? Credit);

    public AmqpChannel(AmqpConnection connection, ushort number)
    {
        _connection = connection;
        _number = number;
    }

    /// <summary>True once the channel's close handshake is over: the connection forgets it.</summary>
    public bool IsFinished => _state == ChannelState.Finished;

    private IBrokerVhost Vhost => _connection.Vhost!;
    private AmqpServer Server => _connection.Server;

    // ---------------------------------------------------------------- dispatch

    public ValueTask HandleMethodAsync(uint method, ReadOnlyMemory<byte> args)
    {
        if (_state != ChannelState.Open) return HandleWhileClosing(method);
        if (_content != Content.None)
            throw AmqpException.Connection(ReplyCode.UnexpectedFrame, $"UNEXPECTED_FRAME - {MethodNames.Name(method)} where the content of basic.publish belongs");
        var span = args.Span;
        switch (method)
        {
            case MethodId.BasicPublish: BeginPublish(span); return ValueTask.CompletedTask;
            case MethodId.BasicAck: return Ack(span);
            case MethodId.BasicNack: return Nack(span);
            case MethodId.BasicReject: return Reject(span);
            case MethodId.BasicQos: Qos(span); return ValueTask.CompletedTask;
            case MethodId.BasicConsume: return ConsumeAsync(ConsumeArgs.Read(span));
            case MethodId.BasicCancel: return CancelAsync(span);
            case MethodId.BasicGet: return GetAsync(span);
            case MethodId.BasicRecover: return Recover(span, answer: true);
            case MethodId.BasicRecoverAsync: return Recover(span, answer: false);
            case MethodId.ExchangeDeclare: return DeclareExchangeAsync(span);
            case MethodId.ExchangeDelete: return DeleteExchangeAsync(span);
            case MethodId.ExchangeBind: return BindExchangeAsync(span, bind: true);
            case MethodId.ExchangeUnbind: return BindExchangeAsync(span, bind: false);
            case MethodId.QueueDeclare: return DeclareQueueAsync(span);
            case MethodId.QueueBind: return BindQueueAsync(span, bind: true);
            case MethodId.QueueUnbind: return BindQueueAsync(span, bind: false);
            case MethodId.QueuePurge: return PurgeAsync(span);
            case MethodId.QueueDelete: return DeleteQueueAsync(span);
            case MethodId.ConfirmSelect: ConfirmSelect(span); return ValueTask.CompletedTask;
            case MethodId.TxSelect: TxSelect(span); return ValueTask.CompletedTask;
            case MethodId.TxCommit: return CommitAsync(span);
            case MethodId.TxRollback: Rollback(span); return ValueTask.CompletedTask;
            case MethodId.ChannelFlow: Flow(span); return ValueTask.CompletedTask;
            case MethodId.ChannelClose: return CloseByClientAsync(span);
            case MethodId.ChannelOpen:
                throw AmqpException.Connection(ReplyCode.ChannelError, $"CHANNEL_ERROR - channel {_number} is already open");
            case MethodId.AccessRequest:
                Reply(MethodId.AccessRequestOk, static w => w.WriteShort(1));
                return ValueTask.CompletedTask;
            default:
                throw AmqpConnection.UnexpectedMethod(method, _number);
        }
    }

    // After the server sent channel.close, everything but close and close-ok is dropped (spec 1.5.2.5).
    private ValueTask HandleWhileClosing(uint method)
    {
        if (method == MethodId.ChannelCloseOk) _state = ChannelState.Finished;
        else if (method == MethodId.ChannelClose)
        {
            Reply(MethodId.ChannelCloseOk, null);
            _state = ChannelState.Finished;
        }
        return ValueTask.CompletedTask;
    }

    private void Reply(uint method, Action<FrameBuffer>? fields)
    {
        _connection.Send((this, method, fields), static (w, s) =>
        {
            var at = w.BeginMethod(s.Item1._number, s.method);
            s.fields?.Invoke(w);
            w.EndFrame(at);
        });
    }

    /// <summary>Sends channel.close for a channel error; the channel's consumers end at once.</summary>
    public void CloseWithError(AmqpException e)
    {
        lock (_lock)
        {
            if (_state != ChannelState.Open) return;
            _state = ChannelState.Closing;
            _content = Content.None;
            lock (_connection.SendLock)
            {
                var w = _connection.Output;
                var at = w.BeginMethod(_number, MethodId.ChannelClose);
                w.WriteShort(e.ReplyCode);
                w.WriteShortStr(e.Message);
                w.WriteShort(MethodId.Class(e.Method));
                w.WriteShort(MethodId.Method(e.Method));
                w.EndFrame(at);
            }
        }
        _connection.Wake();
        _ = EndAsync();
    }

    private ValueTask CloseByClientAsync(ReadOnlySpan<byte> args)
    {
        ReadClose(args);
        return CloseByClientAsync();
    }

    private async ValueTask CloseByClientAsync()
    {
        lock (_lock) _state = ChannelState.Closing;
        await EndAsync();
        Reply(MethodId.ChannelCloseOk, null);
        _state = ChannelState.Finished;
    }

    private static void ReadClose(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        r.ReadShort();
        r.ReadShortStr();
        r.ReadShort();
        r.ReadShort();
        r.End();
    }

    /// <summary>
    /// Ends the channel's work (once): consumers are cancelled (the engine requeues what they held), messages taken
    /// with basic.get go back, an open transaction is dropped.
    /// </summary>
    public async Task EndAsync()
    {
        List<AmqpConsumer> consumers;
        List<Unacked> gets;
        lock (_lock)
        {
            if (_ended) return;
            _ended = true;
            if (_state == ChannelState.Open) _state = ChannelState.Closing;
            // Consumers cancelled by the client that still hold deliveries are ended too.
            consumers = [.. _consumers.Values.Concat(_unacked.Values.Select(u => u.Consumer).OfType<AmqpConsumer>()).Distinct()];
            _consumers.Clear();
            gets = [.. _unacked.Values.Where(u => u.Consumer is null)];
            _unacked.Clear();
            _flowPaused?.TrySetResult();
        }
        _txPublishes.Clear();
        _txSettlements.Clear();
        foreach (var consumer in consumers) await consumer.EndAsync();
        foreach (var group in gets.GroupBy(u => u.Queue))
            await Quietly(group.Key.NackAsync([.. group.Select(u => u.Tag)], requeue: true));
    }

    private static async Task Quietly(Task settlement)
    {
        try
        {
            await settlement;
        }
        catch (Exception e) when (e is BrokerException or StorageException or BrokerUnavailableException)
        {
            // The queue is gone, or the message went back already.
        }
    }

    private static void Observe(Task settlement)
    {
        if (settlement.IsCompletedSuccessfully) return;
        _ = Quietly(settlement);
    }

    // ---------------------------------------------------------------- authorization and errors

    private void Authorize(AmqpPermission permission, string resource)
    {
        if (Server.Authority.Denial(_connection.User!, Vhost.Name, permission, resource) is { } denied)
            throw AmqpException.Channel(ReplyCode.AccessRefused, "ACCESS_REFUSED - " + denied);
    }

    // The default exchange's resource name in permissions, as RabbitMQ's (and the HTTP API's route name).
    private static string ExchangeResource(string exchange) => exchange.Length == 0 ? "amq.default" : exchange;

    /// <summary>The AMQP channel error for a refusal of the engine.</summary>
    public static AmqpException ToAmqp(BrokerException e) => e.Error switch
    {
        BrokerError.NotFound => AmqpException.Channel(ReplyCode.NotFound, "NOT_FOUND - " + e.Message),
        BrokerError.AccessRefused => AmqpException.Channel(ReplyCode.AccessRefused, "ACCESS_REFUSED - " + e.Message),
        BrokerError.ResourceLocked => AmqpException.Channel(ReplyCode.ResourceLocked, "RESOURCE_LOCKED - " + e.Message),
        _ => AmqpException.Channel(ReplyCode.PreconditionFailed, "PRECONDITION_FAILED - " + e.Message),
    };

    private string QueueOrLast(string queue)
    {
        if (queue.Length > 0) return queue;
        return _lastQueue ?? throw AmqpException.Channel(ReplyCode.NotFound, "NOT_FOUND - no previously declared queue on this channel");
    }

    private async ValueTask<IBrokerQueue> RequireQueueAsync(string name)
    {
        var queue = await Vhost.GetQueueAsync(name, _connection.Aborted)
                    ?? throw AmqpException.Channel(ReplyCode.NotFound, $"NOT_FOUND - no queue '{name}' in vhost '{Vhost.Name}'");
        queue.RequireAccess(_connection);
        return queue;
    }

    private static Dictionary<string, object?>? Table(ref AmqpReader r) => ContentHeader.ToEngine(r.ReadTable());

    // ---------------------------------------------------------------- basic.publish and its content

    private void BeginPublish(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        r.ReadShort();
        var exchange = _exchangeNames.Get(r.ReadShortStrBytes());
        var routingKey = _routingKeys.Get(r.ReadShortStrBytes());
        var mandatory = r.ReadBit();
        var immediate = r.ReadBit();
        r.End();
        if (immediate) throw AmqpException.Connection(ReplyCode.NotImplemented, "NOT_IMPLEMENTED - immediate=true");
        // Permissions are cached for the last exchange of the channel, as RabbitMQ caches them per channel.
        if (!ReferenceEquals(exchange, _writableExchange))
        {
            Authorize(AmqpPermission.Write, ExchangeResource(exchange));
            _writableExchange = exchange;
        }
        _publishExchange = exchange;
        _publishRoutingKey = routingKey;
        _publishMandatory = mandatory;
        _content = Content.ExpectHeader;
    }

    public void HandleHeader(ReadOnlySpan<byte> payload)
    {
        if (_state != ChannelState.Open) return;
        if (_content != Content.ExpectHeader)
            throw AmqpException.Connection(ReplyCode.UnexpectedFrame, "UNEXPECTED_FRAME - a content header without basic.publish");
        var (classId, size, properties) = ContentHeader.Read(payload);
        if (classId != ClassId.Basic)
            throw AmqpException.Connection(ReplyCode.UnexpectedFrame, $"UNEXPECTED_FRAME - a content header of class {classId} (basic is 60)");
        if (size > (ulong)Server.Limits.MaxMessageBytes)
        {
            _content = Content.None;
            throw AmqpException.Channel(ReplyCode.PreconditionFailed,
                $"PRECONDITION_FAILED - message size {size} is larger than configured max size {Server.Limits.MaxMessageBytes} (Gateway:Limits:MaxMessageBytes)");
        }
        _publishProperties = properties;
        if (size == 0)
        {
            _content = Content.None;
            Publish(_publishExchange, _publishRoutingKey, _publishMandatory, properties, ReadOnlyMemory<byte>.Empty);
            return;
        }
        _body = new byte[size];
        _bodyFilled = 0;
        _content = Content.ExpectBody;
    }

    public void HandleBody(ReadOnlySpan<byte> payload)
    {
        if (_state != ChannelState.Open) return;
        if (_content != Content.ExpectBody)
            throw AmqpException.Connection(ReplyCode.UnexpectedFrame, "UNEXPECTED_FRAME - a content body without basic.publish and its header");
        if (payload.Length > _body.Length - _bodyFilled)
            throw AmqpException.Connection(ReplyCode.UnexpectedFrame, "UNEXPECTED_FRAME - content body frames longer than the header's body size");
        payload.CopyTo(_body.AsSpan(_bodyFilled));
        _bodyFilled += payload.Length;
        if (_bodyFilled < _body.Length) return;
        _content = Content.None;
        var body = _body;
        _body = [];
        Publish(_publishExchange, _publishRoutingKey, _publishMandatory, _publishProperties, body);
    }

    private void Publish(string exchange, string routingKey, bool mandatory, MessageProperties properties, ReadOnlyMemory<byte> body)
    {
        var message = new Message(exchange, routingKey, properties, body);
        if (message.Properties.Headers?.ContainsKey(Message.DelayHeader) == true && !Server.Broker.Features.Has(BrokerFeature.DelayedDelivery))
            throw AmqpException.Connection(ReplyCode.NotImplemented, "NOT_IMPLEMENTED - delayed messages (header x-delay) on this backend");
        if (_tx)
        {
            _txPublishes.Add((message, mandatory));
            return;
        }
        var sequence = _confirm ? ++_published : 0;
        ValueTask<PublishOutcome> publishing;
        try
        {
            publishing = Vhost.PublishAsync(exchange, message, _connection.Aborted);
        }
        catch (Exception e) when (e is StorageException or BrokerUnavailableException)
        {
            if (sequence > 0) Confirm(sequence, ack: false, flush: false);
            return;
        }
        if (publishing.IsCompletedSuccessfully) Complete(sequence, publishing.Result, message, mandatory, inline: true);
        else _ = CompleteLaterAsync(publishing, sequence, message, mandatory);
    }

    private async Task CompleteLaterAsync(ValueTask<PublishOutcome> publishing, long sequence, Message message, bool mandatory)
    {
        PublishOutcome outcome;
        try
        {
            outcome = await publishing;
        }
        catch (Exception e) when (e is StorageException or BrokerUnavailableException or OperationCanceledException)
        {
            // Not stored, so not confirmed: a nack, as RabbitMQ answers a message it could not take.
            if (sequence > 0) Confirm(sequence, ack: false, flush: true);
            return;
        }
        try
        {
            Complete(sequence, outcome, message, mandatory, inline: false);
        }
        catch (AmqpException e)
        {
            CloseWithError(e);
        }
    }

    // Answers a publish once the engine has: a channel error for a missing or internal exchange, basic.return for a
    // mandatory message no queue took (before its confirm, as the spec orders them), then the confirm.
    private void Complete(long sequence, PublishOutcome outcome, Message message, bool mandatory, bool inline)
    {
        switch (outcome.Status)
        {
            case PublishStatus.ExchangeNotFound:
                throw new AmqpException(ReplyCode.NotFound, $"NOT_FOUND - no exchange '{message.Exchange}' in vhost '{Vhost.Name}'", false, MethodId.BasicPublish);
            case PublishStatus.ExchangeInternal:
                throw new AmqpException(ReplyCode.AccessRefused, $"ACCESS_REFUSED - cannot publish to internal exchange '{message.Exchange}' in vhost '{Vhost.Name}'",
                    false, MethodId.BasicPublish);
        }
        if (mandatory && !outcome.Routed && outcome.Rejected == 0) WriteReturn(message);
        if (sequence > 0) Confirm(sequence, ack: outcome.Rejected == 0, flush: !inline);
        else if (!inline) _connection.Wake();
    }

    private void WriteReturn(Message message)
    {
        lock (_lock)
        {
            if (_state != ChannelState.Open) return;
            lock (_connection.SendLock)
            {
                var w = _connection.Output;
                var at = w.BeginMethod(_number, MethodId.BasicReturn);
                w.WriteShort(ReplyCode.NoRoute);
                w.WriteShortStr("NO_ROUTE");
                w.WriteShortStr(message.Exchange);
                w.WriteShortStr(message.RoutingKey);
                w.EndFrame(at);
                WriteContent(w, message);
            }
        }
    }

    private void WriteContent(FrameBuffer w, Message message)
    {
        ContentHeader.Write(w, _number, message.Properties, message.Body.Length);
        w.WriteBody(_number, message.Body.Span, _connection.FrameMax);
    }

    // ---------------------------------------------------------------- publisher confirms

    private void ConfirmSelect(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        var noWait = r.ReadBit();
        r.End();
        if (_tx) throw AmqpException.Channel(ReplyCode.PreconditionFailed, "PRECONDITION_FAILED - cannot switch from tx to confirm mode");
        _confirm = true;
        if (!noWait) Reply(MethodId.ConfirmSelectOk, null);
    }

    // Confirms go out in publish order: a publish that completes before an earlier one waits for it. Acks in a row
    // are sent as one ack with multiple set (at the end of the read batch, or at once for a completion of the journal).
    private void Confirm(long sequence, bool ack, bool flush)
    {
        lock (_confirmLock)
        {
            if (sequence != _settledUpTo + 1)
            {
                _earlyConfirms[sequence] = ack;
                return;
            }
            Advance(sequence, ack);
            while (_earlyConfirms.Count > 0 && _earlyConfirms.Remove(_settledUpTo + 1, out var next)) Advance(_settledUpTo + 1, next);
            if (flush) WriteAcksLocked();
        }
        if (flush) _connection.Wake();
    }

    private void Advance(long sequence, bool ack)
    {
        _settledUpTo = sequence;
        if (ack)
        {
            _ackRunEnd = sequence;
            return;
        }
        WriteAcksLocked();
        _ackWritten = sequence;
        _ackRunEnd = sequence;
        WriteConfirm(MethodId.BasicNack, (ulong)sequence, multiple: false);
    }

    /// <summary>Sends the acks of the publishes confirmed since the last call (the read loop calls it after each batch).</summary>
    public void FlushConfirms()
    {
        if (!_confirm || Volatile.Read(ref _ackRunEnd) == Volatile.Read(ref _ackWritten)) return;
        lock (_confirmLock) WriteAcksLocked();
    }

    private void WriteAcksLocked()
    {
        if (_ackRunEnd == _ackWritten) return;
        var multiple = _ackRunEnd > _ackWritten + 1;
        WriteConfirm(MethodId.BasicAck, (ulong)_ackRunEnd, multiple);
        _ackWritten = _ackRunEnd;
    }

    private void WriteConfirm(uint method, ulong tag, bool multiple)
    {
        lock (_lock)
        {
            if (_state != ChannelState.Open) return;
            lock (_connection.SendLock)
            {
                var w = _connection.Output;
                var at = w.BeginMethod(_number, method);
                w.WriteLongLong(tag);
                w.WriteBits(multiple);
                w.EndFrame(at);
            }
        }
    }

    // ---------------------------------------------------------------- transactions

    private void TxSelect(ReadOnlySpan<byte> args)
    {
        new AmqpReader(args).End();
        if (_confirm) throw AmqpException.Channel(ReplyCode.PreconditionFailed, "PRECONDITION_FAILED - cannot switch from confirm to tx mode");
        _tx = true;
        Reply(MethodId.TxSelectOk, null);
    }

    private ValueTask CommitAsync(ReadOnlySpan<byte> args)
    {
        new AmqpReader(args).End();
        if (!_tx) throw AmqpException.Channel(ReplyCode.PreconditionFailed, "PRECONDITION_FAILED - channel is not transactional");
        return CommitAsync();
    }

    private async ValueTask CommitAsync()
    {
        var publishes = _txPublishes.ToArray();
        var settlements = _txSettlements.ToArray();
        _txPublishes.Clear();
        _txSettlements.Clear();
        foreach (var (message, mandatory) in publishes)
            Complete(0, await Vhost.PublishAsync(message.Exchange, message, _connection.Aborted), message, mandatory, inline: true);
        foreach (var (tag, multiple, kind, requeue) in settlements) await SettleAsync(tag, multiple, kind, requeue);
        Reply(MethodId.TxCommitOk, null);
    }

    private void Rollback(ReadOnlySpan<byte> args)
    {
        new AmqpReader(args).End();
        if (!_tx) throw AmqpException.Channel(ReplyCode.PreconditionFailed, "PRECONDITION_FAILED - channel is not transactional");
        _txPublishes.Clear();
        _txSettlements.Clear();
        Reply(MethodId.TxRollbackOk, null);
    }

    // ---------------------------------------------------------------- settling deliveries

    private ValueTask Ack(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        var tag = r.ReadLongLong();
        var multiple = r.ReadBit();
        r.End();
        return Settle(tag, multiple, Settlement.Ack, requeue: false);
    }

    private ValueTask Nack(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        var tag = r.ReadLongLong();
        var multiple = r.ReadBit();
        var requeue = r.ReadBit();
        r.End();
        return Settle(tag, multiple, Settlement.Nack, requeue);
    }

    private ValueTask Reject(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        var tag = r.ReadLongLong();
        var requeue = r.ReadBit();
        r.End();
        return Settle(tag, multiple: false, Settlement.Nack, requeue);
    }

    private ValueTask Settle(ulong tag, bool multiple, Settlement kind, bool requeue)
    {
        if (!_tx) return SettleAsync(tag, multiple, kind, requeue);
        lock (_lock)
            if (!multiple && !_unacked.ContainsKey(tag)) throw UnknownTag(tag);
        _txSettlements.Add((tag, multiple, kind, requeue));
        return ValueTask.CompletedTask;
    }

    private static AmqpException UnknownTag(ulong tag) => AmqpException.Channel(ReplyCode.PreconditionFailed, $"PRECONDITION_FAILED - unknown delivery tag {tag}");

    private ValueTask SettleAsync(ulong tag, bool multiple, Settlement kind, bool requeue)
    {
        Unacked single;
        List<Unacked>? many = null;
        lock (_lock)
        {
            if (!multiple)
            {
                if (!_unacked.Remove(tag, out single)) throw UnknownTag(tag);
            }
            else
            {
                single = default;
                many = [];
                foreach (var (t, u) in _unacked)
                    if (tag == 0 || t <= tag) many.Add(u);
                if (many.Count == 0 && tag != 0 && tag > _lastDeliveryTag) throw UnknownTag(tag);
                foreach (var (t, _) in _unacked.Where(p => tag == 0 || p.Key <= tag).ToList()) _unacked.Remove(t);
            }
        }
        // Settled in the engine first, then released: a cancelled consumer's subscription may end with the release,
        // and would requeue what it still held.
        if (many is null)
        {
            Observe(kind == Settlement.Ack ? single.Queue.AckAsync([single.Tag]) : single.Queue.NackAsync([single.Tag], requeue));
            Released(single);
            return ValueTask.CompletedTask;
        }
        foreach (var group in many.GroupBy(u => u.Queue))
        {
            DeliveryTag[] tags = [.. group.Select(u => u.Tag).OrderBy(t => t.Id)];
            Observe(kind == Settlement.Ack ? group.Key.AckAsync(tags) : group.Key.NackAsync(tags, requeue));
        }
        foreach (var u in many) Released(u);
        return ValueTask.CompletedTask;
    }

    // A settled delivery frees its channel credit (global qos) and counts down its consumer (a cancelled consumer
    // ends in the engine once it holds nothing).
    private static void Released(in Unacked u)
    {
        u.Credit?.Release();
        u.Consumer?.Settled();
    }

    private ValueTask Recover(ReadOnlySpan<byte> args, bool answer)
    {
        var r = new AmqpReader(args);
        var requeue = r.ReadBit();
        r.End();
        if (!requeue) throw AmqpException.Connection(ReplyCode.NotImplemented, "NOT_IMPLEMENTED - basic.recover with requeue=false");
        // recover-ok goes first, so that the redeliveries follow it as they do from RabbitMQ.
        if (answer) Reply(MethodId.BasicRecoverOk, null);
        return SettleAsync(0, multiple: true, Settlement.Nack, requeue: true);
    }

    // ---------------------------------------------------------------- qos, flow

    private void Qos(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        var size = r.ReadLong();
        var count = r.ReadShort();
        var global = r.ReadBit();
        r.End();
        if (size != 0) throw AmqpException.Connection(ReplyCode.NotImplemented, "NOT_IMPLEMENTED - prefetch_size!=0");
        if (global)
        {
            // A limit shared by the channel's consumers (RabbitMQ's global=true): credit taken per delivery, given
            // back per settlement. Deliveries made under an earlier limit give back to the semaphore they took from.
            _channelCredit = count == 0 ? null : new SemaphoreSlim(count, int.MaxValue);
            _channelPrefetch = count;
            lock (_lock)
                foreach (var consumer in _consumers.Values) consumer.ChannelCredit = _channelCredit;
        }
        else _consumerPrefetch = count;
        Reply(MethodId.BasicQosOk, null);
    }

    private void Flow(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        var active = r.ReadBit();
        r.End();
        lock (_lock)
        {
            if (active)
            {
                _flowPaused?.TrySetResult();
                _flowPaused = null;
            }
            else _flowPaused ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        Reply(MethodId.ChannelFlowOk, active ? static w => w.WriteBits(true) : static w => w.WriteBits(false));
    }

    /// <summary>Completes when the client has not paused deliveries (channel.flow active=false).</summary>
    private Task WhenFlowingAsync()
    {
        lock (_lock) return _flowPaused?.Task ?? Task.CompletedTask;
    }

    // ---------------------------------------------------------------- basic.get

    private ValueTask GetAsync(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        r.ReadShort();
        var queue = QueueOrLast(r.ReadShortStr());
        var noAck = r.ReadBit();
        r.End();
        Authorize(AmqpPermission.Read, queue);
        return GetAsync(queue, noAck);
    }

    private async ValueTask GetAsync(string name, bool noAck)
    {
        var queue = await RequireQueueAsync(name);
        var taken = await queue.GetAsync(1, TimeSpan.Zero, GetLease, _connection.Aborted);
        if (taken.Count == 0)
        {
            Reply(MethodId.BasicGetEmpty, static w => w.WriteShortStr(""));
            return;
        }
        var delivery = taken[0];
        var remaining = (await queue.GetStatusAsync(_connection.Aborted)).MessagesReady;
        lock (_lock)
        {
            if (_state != ChannelState.Open)
            {
                Observe(queue.NackAsync([delivery.Tag], requeue: true));
                return;
            }
            var tag = ++_lastDeliveryTag;
            if (!noAck) _unacked[tag] = new Unacked(queue, delivery.Tag, null, null);
            lock (_connection.SendLock)
            {
                var w = _connection.Output;
                var at = w.BeginMethod(_number, MethodId.BasicGetOk);
                w.WriteLongLong(tag);
                w.WriteBits(delivery.Redelivered);
                w.WriteShortStr(delivery.Message.Exchange);
                w.WriteShortStr(delivery.Message.RoutingKey);
                w.WriteLong((uint)remaining);
                w.EndFrame(at);
                WriteContent(w, delivery.Message);
            }
        }
        _connection.Wake();
        if (noAck) Observe(queue.AckAsync([delivery.Tag]));
    }

    // ---------------------------------------------------------------- exchanges

    private ValueTask DeclareExchangeAsync(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        r.ReadShort();
        var name = r.ReadShortStr();
        var typeName = r.ReadShortStr();
        var passive = r.ReadBit();
        var durable = r.ReadBit();
        var autoDelete = r.ReadBit();
        var @internal = r.ReadBit();
        var noWait = r.ReadBit();
        var arguments = Table(ref r);
        r.End();
        if (passive) return DeclareExchangePassiveAsync(name, noWait);
        if (!ExchangeTypes.TryParse(typeName, out var type))
            throw AmqpException.Connection(ReplyCode.CommandInvalid, $"COMMAND_INVALID - unknown exchange type '{typeName}'");
        if (name.Length == 0) throw AmqpException.Channel(ReplyCode.AccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange");
        Authorize(AmqpPermission.Configure, name);
        return DeclareExchangeAsync(new ExchangeDefinition(name, type, durable, autoDelete, @internal, arguments), noWait);
    }

    private async ValueTask DeclareExchangeAsync(ExchangeDefinition definition, bool noWait)
    {
        await Vhost.DeclareExchangeAsync(definition, _connection.Aborted);
        if (!noWait) Reply(MethodId.ExchangeDeclareOk, null);
    }

    private async ValueTask DeclareExchangePassiveAsync(string name, bool noWait)
    {
        if (name.Length > 0 && await Vhost.GetExchangeAsync(name, _connection.Aborted) is null)
            throw AmqpException.Channel(ReplyCode.NotFound, $"NOT_FOUND - no exchange '{name}' in vhost '{Vhost.Name}'");
        if (!noWait) Reply(MethodId.ExchangeDeclareOk, null);
    }

    private ValueTask DeleteExchangeAsync(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        r.ReadShort();
        var name = r.ReadShortStr();
        var ifUnused = r.ReadBit();
        var noWait = r.ReadBit();
        r.End();
        if (name.Length == 0) throw AmqpException.Channel(ReplyCode.AccessRefused, "ACCESS_REFUSED - operation not permitted on the default exchange");
        Authorize(AmqpPermission.Configure, name);
        return DeleteExchangeAsync(name, ifUnused, noWait);
    }

    private async ValueTask DeleteExchangeAsync(string name, bool ifUnused, bool noWait)
    {
        try
        {
            await Vhost.DeleteExchangeAsync(name, ifUnused, _connection.Aborted);
        }
        catch (BrokerException e) when (e.Error == BrokerError.NotFound)
        {
            // Deleting what is not there succeeds, as in RabbitMQ 3.x.
        }
        if (!noWait) Reply(MethodId.ExchangeDeleteOk, null);
    }

    private ValueTask BindExchangeAsync(ReadOnlySpan<byte> args, bool bind)
    {
        var r = new AmqpReader(args);
        r.ReadShort();
        var destination = r.ReadShortStr();
        var source = r.ReadShortStr();
        var routingKey = r.ReadShortStr();
        var noWait = r.ReadBit();
        var arguments = Table(ref r);
        r.End();
        Authorize(AmqpPermission.Write, destination);
        Authorize(AmqpPermission.Read, ExchangeResource(source));
        var binding = new Binding(source, destination, BindingDestinationType.Exchange, routingKey, arguments);
        return BindAsync(binding, bind, noWait, bind ? MethodId.ExchangeBindOk : MethodId.ExchangeUnbindOk);
    }

    private async ValueTask BindAsync(Binding binding, bool bind, bool noWait, uint answer)
    {
        if (bind) await Vhost.BindAsync(binding, _connection.Aborted);
        else await UnbindAsync(binding);
        if (!noWait) Reply(answer, null);
    }

    // Removing a binding that does not exist succeeds while its source and destination exist (RabbitMQ 3.x).
    private async ValueTask UnbindAsync(Binding binding)
    {
        try
        {
            await Vhost.UnbindAsync(binding.Id, _connection.Aborted);
            return;
        }
        catch (BrokerException e) when (e.Error == BrokerError.NotFound)
        {
            // Checked below.
        }
        if (binding.Source.Length > 0 && await Vhost.GetExchangeAsync(binding.Source, _connection.Aborted) is null)
            throw AmqpException.Channel(ReplyCode.NotFound, $"NOT_FOUND - no exchange '{binding.Source}' in vhost '{Vhost.Name}'");
        var destinationExists = binding.DestinationType == BindingDestinationType.Queue
            ? await Vhost.GetQueueAsync(binding.Destination, _connection.Aborted) is not null
            : await Vhost.GetExchangeAsync(binding.Destination, _connection.Aborted) is not null;
        if (!destinationExists)
            throw AmqpException.Channel(ReplyCode.NotFound, $"NOT_FOUND - no {(binding.DestinationType == BindingDestinationType.Queue ? "queue" : "exchange")} '{binding.Destination}' in vhost '{Vhost.Name}'");
    }

    // ---------------------------------------------------------------- queues

    private ValueTask DeclareQueueAsync(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        r.ReadShort();
        var name = r.ReadShortStr();
        var passive = r.ReadBit();
        var durable = r.ReadBit();
        var exclusive = r.ReadBit();
        var autoDelete = r.ReadBit();
        var noWait = r.ReadBit();
        var arguments = Table(ref r);
        r.End();
        if (passive) return DeclareQueuePassiveAsync(QueueOrLast(name), noWait);
        // A server-named queue needs configure on the amq.gen- prefix it gets, as over HTTP.
        Authorize(AmqpPermission.Configure, name.Length == 0 ? "amq.gen-" : name);
        return DeclareQueueAsync(new QueueDefinition(name, durable, exclusive, autoDelete, arguments), noWait);
    }

    private async ValueTask DeclareQueueAsync(QueueDefinition definition, bool noWait)
    {
        var queue = definition.Name.Length == 0
            ? await Vhost.DeclareServerNamedQueueAsync(definition, _connection, _connection.Aborted)
            : (await Vhost.DeclareQueueAsync(definition, _connection, _connection.Aborted)).Queue;
        _lastQueue = queue.Name;
        if (noWait) return;
        var status = await queue.GetStatusAsync(_connection.Aborted);
        ReplyDeclareOk(queue.Name, status);
    }

    private async ValueTask DeclareQueuePassiveAsync(string name, bool noWait)
    {
        var queue = await RequireQueueAsync(name);
        _lastQueue = queue.Name;
        if (noWait) return;
        ReplyDeclareOk(queue.Name, await queue.GetStatusAsync(_connection.Aborted));
    }

    private void ReplyDeclareOk(string name, QueueStatus status)
    {
        _connection.Send((this, name, status), static (w, s) =>
        {
            var at = w.BeginMethod(s.Item1._number, MethodId.QueueDeclareOk);
            w.WriteShortStr(s.name);
            w.WriteLong((uint)s.status.MessagesReady);
            w.WriteLong((uint)s.status.Consumers);
            w.EndFrame(at);
        });
    }

    private ValueTask BindQueueAsync(ReadOnlySpan<byte> args, bool bind)
    {
        var r = new AmqpReader(args);
        r.ReadShort();
        var queue = QueueOrLast(r.ReadShortStr());
        var exchange = r.ReadShortStr();
        var routingKey = r.ReadShortStr();
        var noWait = bind && r.ReadBit(); // queue.unbind has no no-wait
        var arguments = Table(ref r);
        r.End();
        Authorize(AmqpPermission.Write, queue);
        Authorize(AmqpPermission.Read, ExchangeResource(exchange));
        return BindQueueAsync(new Binding(exchange, queue, BindingDestinationType.Queue, routingKey, arguments), bind, noWait);
    }

    private async ValueTask BindQueueAsync(Binding binding, bool bind, bool noWait)
    {
        if (await Vhost.GetQueueAsync(binding.Destination, _connection.Aborted) is { } queue) queue.RequireAccess(_connection);
        await BindAsync(binding, bind, noWait, bind ? MethodId.QueueBindOk : MethodId.QueueUnbindOk);
    }

    private ValueTask PurgeAsync(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        r.ReadShort();
        var name = QueueOrLast(r.ReadShortStr());
        var noWait = r.ReadBit();
        r.End();
        Authorize(AmqpPermission.Read, name);
        return PurgeAsync(name, noWait);
    }

    private async ValueTask PurgeAsync(string name, bool noWait)
    {
        var purged = await (await RequireQueueAsync(name)).PurgeAsync();
        if (!noWait) Reply(MethodId.QueuePurgeOk, w => w.WriteLong((uint)purged));
    }

    private ValueTask DeleteQueueAsync(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        r.ReadShort();
        var name = QueueOrLast(r.ReadShortStr());
        var ifUnused = r.ReadBit();
        var ifEmpty = r.ReadBit();
        var noWait = r.ReadBit();
        r.End();
        Authorize(AmqpPermission.Configure, name);
        return DeleteQueueAsync(name, ifUnused, ifEmpty, noWait);
    }

    private async ValueTask DeleteQueueAsync(string name, bool ifUnused, bool ifEmpty, bool noWait)
    {
        var count = 0;
        if (await Vhost.GetQueueAsync(name, _connection.Aborted) is { } queue)
        {
            queue.RequireAccess(_connection);
            try
            {
                count = await Vhost.DeleteQueueAsync(name, ifUnused, ifEmpty, _connection.Aborted);
            }
            catch (BrokerException e) when (e.Error == BrokerError.NotFound)
            {
                // Deleted meanwhile: deleting what is not there succeeds, as in RabbitMQ 3.x.
            }
        }
        if (!noWait) Reply(MethodId.QueueDeleteOk, w => w.WriteLong((uint)count));
    }

    // ---------------------------------------------------------------- consumers

    private readonly record struct ConsumeArgs(string Queue, string Tag, bool NoAck, bool Exclusive, bool NoWait, Dictionary<string, object?>? Arguments)
    {
        public static ConsumeArgs Read(ReadOnlySpan<byte> args)
        {
            var r = new AmqpReader(args);
            r.ReadShort();
            var queue = r.ReadShortStr();
            var tag = r.ReadShortStr();
            r.ReadBit(); // no-local: RabbitMQ ignores it too
            var noAck = r.ReadBit();
            var exclusive = r.ReadBit();
            var noWait = r.ReadBit();
            var arguments = r.ReadTable();
            r.End();
            return new ConsumeArgs(queue, tag, noAck, exclusive, noWait, arguments);
        }
    }

    private async ValueTask ConsumeAsync(ConsumeArgs a)
    {
        var name = QueueOrLast(a.Queue);
        Authorize(AmqpPermission.Read, name);
        if (a.Arguments is { Count: > 0 } arguments)
            throw AmqpException.Connection(ReplyCode.NotImplemented, $"NOT_IMPLEMENTED - consumer arguments ({string.Join(", ", arguments.Keys)})");
        var tag = a.Tag.Length > 0 ? a.Tag : "amq.ctag-" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        lock (_lock)
            if (_consumers.ContainsKey(tag))
                throw AmqpException.Connection(ReplyCode.NotAllowed, $"NOT_ALLOWED - attempt to reuse consumer tag '{tag}'");
        var queue = await RequireQueueAsync(name);
        var limits = Server.Limits;
        var prefetch = a.NoAck || _consumerPrefetch == 0 ? limits.MaxPrefetch : Math.Min((int)_consumerPrefetch, limits.MaxPrefetch);
        // Under a channel-wide limit the engine need not hand the consumer more than that limit either.
        if (!a.NoAck && _channelCredit is not null) prefetch = Math.Min(prefetch, _channelPrefetch);
        var consumer = new AmqpConsumer(this, tag, queue, a.NoAck);
        // Exclusivity is the queue's (over every protocol: a WebSocket subscriber counts as a consumer too); the
        // refusal is worded as RabbitMQ words it.
        try
        {
            consumer.Subscription = a.Exclusive
                ? await queue.SubscribeExclusiveAsync(prefetch, _connection.Aborted)
                : await queue.SubscribeAsync(prefetch, _connection.Aborted);
        }
        catch (BrokerException e) when (e.Error == BrokerError.AccessRefused)
        {
            throw AmqpException.Channel(ReplyCode.AccessRefused, a.Exclusive
                ? $"ACCESS_REFUSED - queue '{queue.Name}' in vhost '{Vhost.Name}' has consumers: exclusive consume refused"
                : $"ACCESS_REFUSED - queue '{queue.Name}' in vhost '{Vhost.Name}' in exclusive use");
        }
        lock (_lock)
        {
            if (_state != ChannelState.Open)
            {
                _ = consumer.EndAsync();
                return;
            }
            consumer.ChannelCredit = a.NoAck ? null : _channelCredit;
            _consumers[tag] = consumer;
            if (!a.NoWait)
                lock (_connection.SendLock)
                {
                    var w = _connection.Output;
                    var at = w.BeginMethod(_number, MethodId.BasicConsumeOk);
                    w.WriteShortStr(tag);
                    w.EndFrame(at);
                }
        }
        _connection.Wake();
        consumer.Start();
    }

    private ValueTask CancelAsync(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        var tag = r.ReadShortStr();
        var noWait = r.ReadBit();
        r.End();
        return CancelAsync(tag, noWait);
    }

    private async ValueTask CancelAsync(string tag, bool noWait)
    {
        AmqpConsumer? consumer;
        lock (_lock) _consumers.Remove(tag, out consumer);
        if (consumer is not null) await consumer.CancelByClientAsync();
        if (!noWait) Reply(MethodId.BasicCancelOk, w => w.WriteShortStr(tag));
    }

    /// <summary>The engine ended a consumer (its queue was deleted): the client is told with basic.cancel (consumer_cancel_notify).</summary>
    private void EndedByServer(AmqpConsumer consumer)
    {
        lock (_lock)
        {
            if (!_consumers.Remove(consumer.Tag) || _state != ChannelState.Open) return;
            lock (_connection.SendLock)
            {
                var w = _connection.Output;
                var at = w.BeginMethod(_number, MethodId.BasicCancel);
                w.WriteShortStr(consumer.Tag);
                w.WriteBits(true);
                w.EndFrame(at);
            }
        }
        _connection.Wake();
    }
}
