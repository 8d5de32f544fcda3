using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using System.Threading.Channels;
using Gateway.Amqp.Protocol;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Microsoft.Extensions.Logging;

namespace Gateway.Amqp.Connections;

/// <summary>
/// One AMQP 0-9-1 connection: the protocol header, the connection handshake (start, tune, open), the frame loop that
/// dispatches methods and content to its channels, heartbeats, and the close handshake. Frames are read from a
/// <see cref="PipeReader"/> over the stream; frames to send are encoded into a pooled buffer under the send lock and
/// written by one writer loop, which swaps the buffer with a spare one so that producers never wait on the socket.
/// </summary>
/// <remarks>
/// How the connection ends, each handled below:
/// <list type="number">
/// <item>The client closes (connection.close): close-ok is sent, then the socket is closed.</item>
/// <item>A connection error (bad frame, wrong sequence, refused login, unknown method): connection.close with the
/// spec's reply code is sent, frames other than close and close-ok are ignored, and the socket is closed when
/// close-ok arrives or after <see cref="CloseOkTimeout"/>.</item>
/// <item>The server forces it (API key revoked, shutdown): as a connection error, with 320 CONNECTION_FORCED.</item>
/// <item>The peer goes silent for two heartbeat intervals, or the socket fails: closed without a close frame.</item>
/// </list>
/// In every case the channels end: consumers are cancelled, unacknowledged deliveries go back to their queues, and
/// the connection's exclusive queues are deleted.
/// </remarks>
internal sealed partial class AmqpConnection
{
    private static readonly byte[] ProtocolHeader = "AMQP\0\0\x09\x01"u8.ToArray();
    private static readonly TimeSpan CloseOkTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Buffered output above which delivery pumps wait for the socket.</summary>
    internal const int HighWater = 1024 * 1024;

    private enum State { AwaitingHeader, AwaitingStartOk, AwaitingTuneOk, AwaitingOpen, Open, Closing, Closed }

    private readonly ILogger _logger;
    private readonly Stream _stream;
    private readonly PipeReader _reader;
    private readonly Lock _sendLock = new();
    private FrameBuffer _out = new();
    private FrameBuffer _spare = new();
    private TaskCompletionSource? _drained;
    private readonly Channel<bool> _wake = System.Threading.Channels.Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly CancellationTokenSource _aborted = new();
    private readonly Dictionary<ushort, AmqpChannel> _channels = [];
    private State _state = State.AwaitingHeader;
    private ITimer? _heartbeat;
    private long _lastReceived = Environment.TickCount64;
    private long _lastSent = Environment.TickCount64;
    private CancellationTokenRegistration _revocation;
    private bool _clientHandlesBlocked;

    public AmqpConnection(AmqpServer server, Stream stream, string remote)
    {
        Server = server;
        _logger = server.Logger;
        _stream = stream;
        Remote = remote;
        _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024));
        FrameMax = server.Options.FrameMax;
        ChannelMax = (ushort)server.Options.ChannelMax;
    }

    public AmqpServer Server { get; }
    public string Remote { get; }
    /// <summary>The negotiated frame-max (the server's until tune-ok).</summary>
    public int FrameMax { get; private set; }
    public ushort ChannelMax { get; private set; }
    public ushort Heartbeat { get; private set; }
    public AmqpUser? User { get; private set; }
    public IBrokerVhost? Vhost { get; private set; }
    internal Lock SendLock => _sendLock;
    internal CancellationToken Aborted => _aborted.Token;

    [LoggerMessage(EventId = 4610, Level = LogLevel.Debug, Message = "AMQP connection from {Remote} opened vhost {Vhost} as {User}")]
    private partial void LogOpened(string remote, string vhost, string user);

    [LoggerMessage(EventId = 4611, Level = LogLevel.Information, Message = "AMQP connection from {Remote} closed with {Code}: {Text}")]
    private partial void LogConnectionError(string remote, ushort code, string text);

    [LoggerMessage(EventId = 4612, Level = LogLevel.Error, Message = "AMQP connection from {Remote} failed; closed with 541 INTERNAL_ERROR")]
    private partial void LogInternalError(string remote, Exception exception);

    [LoggerMessage(EventId = 4613, Level = LogLevel.Information, Message = "AMQP connection from {Remote} missed heartbeats for {Seconds} s; closed")]
    private partial void LogHeartbeatMissed(string remote, int seconds);


    // ---------------------------------------------------------------- output

    /// <summary>
    /// Encodes frames under the send lock (the callback must not block) and wakes the writer. Frames of one call stay
    /// together on the wire.
    /// </summary>
    public void Send<TState>(TState state, Action<FrameBuffer, TState> write)
    {
        lock (_sendLock) write(_out, state);
        Wake();
    }

    /// <summary>The output buffer; only under <see cref="SendLock"/>.</summary>
    internal FrameBuffer Output => _out;

    /// <summary>Whether buffered output is above <see cref="HighWater"/> (read under the send lock or as a hint).</summary>
    internal bool IsCongested => _out.Length > HighWater;

    /// <summary>Completes when the buffered output has gone below <see cref="HighWater"/> (or the connection ended).</summary>
    internal Task WhenDrainedAsync()
    {
        lock (_sendLock)
        {
            if (_out.Length <= HighWater || _aborted.IsCancellationRequested) return Task.CompletedTask;
            return (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }

    /// <summary>Tells the writer loop that there is output.</summary>
    internal void Wake() => _wake.Writer.TryWrite(true);

    private async Task WriteLoopAsync()
    {
        try
        {
            while (await _wake.Reader.WaitToReadAsync())
            {
                _wake.Reader.TryRead(out _);
                await WritePendingAsync();
            }
            await WritePendingAsync();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or NotSupportedException)
        {
            Abort();
        }
    }

    private async Task WritePendingAsync()
    {
        while (true)
        {
            FrameBuffer batch;
            lock (_sendLock)
            {
                if (_out.Length == 0)
                {
                    ReleaseDrainedLocked();
                    return;
                }
                batch = _out;
                _out = _spare;
                _spare = batch;
                ReleaseDrainedLocked();
            }
            await _stream.WriteAsync(batch.Written, _aborted.Token);
            _lastSent = Environment.TickCount64;
            lock (_sendLock) batch.Reset();
        }
    }

    private void ReleaseDrainedLocked()
    {
        if (_drained is null || _out.Length > HighWater) return;
        _drained.TrySetResult();
        _drained = null;
    }

    // ---------------------------------------------------------------- lifecycle

    /// <summary>Runs the connection until it ends; never throws.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        using var stop = stopping.Register(static s => ((AmqpConnection)s!).Abort(), this);
        var writer = Task.Run(WriteLoopAsync);
        using var handshake = new Timer(static s =>
        {
            var c = (AmqpConnection)s!;
            if (c._state < State.Open) c.Abort();
        }, this, TimeSpan.FromSeconds(Server.Options.HandshakeTimeoutSeconds), Timeout.InfiniteTimeSpan);
        try
        {
            if (await ReadProtocolHeaderAsync()) await ReadFramesAsync();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // The socket failed or was aborted (heartbeat, shutdown, handshake timeout): no close frame can be sent.
        }
        catch (Exception e)
        {
            LogInternalError(Remote, e);
        }
        finally
        {
            _state = State.Closed;
            _heartbeat?.Dispose();
            await _revocation.DisposeAsync();
            await EndChannelsAsync();
            _wake.Writer.TryComplete();
            try
            {
                await writer.WaitAsync(CloseOkTimeout);
            }
            catch (TimeoutException)
            {
                // A peer that does not read: cut below.
            }
            Abort();
            await _reader.CompleteAsync();
            await _stream.DisposeAsync();
            lock (_sendLock)
            {
                _out.Release();
                _spare.Release();
            }
        }
    }

    /// <summary>Cuts the socket without a close handshake.</summary>
    internal void Abort()
    {
        if (_aborted.IsCancellationRequested) return;
        try
        {
            _aborted.Cancel();
        }
        catch (ObjectDisposedException)
        {
            return;
        }
        _reader.CancelPendingRead();
        lock (_sendLock)
        {
            _drained?.TrySetResult();
            _drained = null;
        }
        try { _stream.Dispose(); } catch (IOException) { }
    }

    /// <summary>
    /// Closes the connection from the server's side (revocation, shutdown): connection.close with <paramref name="code"/>,
    /// then the close handshake. Safe from any thread.
    /// </summary>
    public void ForceClose(ushort code, string text)
    {
        lock (_sendLock)
        {
            if (_state is State.Closing or State.Closed) return;
            if (_state < State.AwaitingStartOk)
            {
                Abort();
                return;
            }
            _state = State.Closing;
            WriteConnectionClose(_out, code, text, 0);
        }
        LogConnectionError(Remote, code, text);
        Wake();
        _ = Task.Delay(CloseOkTimeout).ContinueWith(static (_, s) => ((AmqpConnection)s!).Abort(), this, TaskScheduler.Default);
    }

    private static void WriteConnectionClose(FrameBuffer w, ushort code, string text, uint method)
    {
        var at = w.BeginMethod(0, MethodId.ConnectionClose);
        w.WriteShort(code);
        w.WriteShortStr(text);
        w.WriteShort(MethodId.Class(method));
        w.WriteShort(MethodId.Method(method));
        w.EndFrame(at);
    }

    private async Task EndChannelsAsync()
    {
        foreach (var channel in _channels.Values) await channel.EndAsync();
        _channels.Clear();
        if (Vhost is not null)
        {
            try
            {
                await Vhost.DeleteExclusiveQueuesAsync(this);
            }
            catch (Exception e) when (e is BrokerException or StorageException or BrokerUnavailableException)
            {
                // The queues are gone already, or the store refused: they are deleted at the next start (exclusive queues are not durable).
            }
        }
    }

    // ---------------------------------------------------------------- reading

    private async Task<bool> ReadProtocolHeaderAsync()
    {
        var result = await _reader.ReadAtLeastAsync(ProtocolHeader.Length, _aborted.Token);
        var buffer = result.Buffer;
        if (buffer.Length < ProtocolHeader.Length)
        {
            _reader.AdvanceTo(buffer.End);
            return false; // closed before a header
        }
        Span<byte> header = stackalloc byte[8];
        buffer.Slice(0, 8).CopyTo(header);
        _reader.AdvanceTo(buffer.GetPosition(8));
        if (!header.SequenceEqual(ProtocolHeader))
        {
            // Spec 4.2.2: answer with the header the server supports, then close.
            Send(0, static (w, _) => w.WriteBytes(ProtocolHeader));
            return false;
        }
        _state = State.AwaitingStartOk;
        Send(this, static (w, c) => c.WriteStart(w));
        return true;
    }

    private void WriteStart(FrameBuffer w)
    {
        var at = w.BeginMethod(0, MethodId.ConnectionStart);
        w.WriteOctet(0);
        w.WriteOctet(9);
        w.WriteTable(ServerProperties);
        w.WriteLongStr("PLAIN AMQPLAIN");
        w.WriteLongStr("en_US");
        w.EndFrame(at);
    }

    private static readonly Dictionary<string, object?> ServerProperties = new(StringComparer.Ordinal)
    {
        ["product"] = "Gateway",
        ["version"] = typeof(AmqpConnection).Assembly.GetName().Version?.ToString() ?? "1.0",
        ["platform"] = ".NET",
        ["information"] = "AMQP 0-9-1 on the gateway's embedded engine",
        ["capabilities"] = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["publisher_confirms"] = true,
            ["exchange_exchange_bindings"] = true,
            ["basic.nack"] = true,
            ["consumer_cancel_notify"] = true,
            ["per_consumer_qos"] = true,
            ["authentication_failure_close"] = true,
            ["connection.blocked"] = true,
        },
    };

    private async Task ReadFramesAsync()
    {
        while (_state != State.Closed)
        {
            var result = await _reader.ReadAsync(_aborted.Token);
            if (result.IsCanceled) return;
            var buffer = result.Buffer;
            try
            {
                while (_state != State.Closed && TryReadFrame(ref buffer, out var type, out var channel, out var payload))
                {
                    _lastReceived = Environment.TickCount64;
                    if (payload.IsSingleSegment)
                        await HandleFrameAsync(type, channel, payload.First);
                    else
                    {
                        var length = (int)payload.Length;
                        var copy = ArrayPool<byte>.Shared.Rent(length);
                        try
                        {
                            payload.CopyTo(copy);
                            await HandleFrameAsync(type, channel, copy.AsMemory(0, length));
                        }
                        finally
                        {
                            ArrayPool<byte>.Shared.Return(copy);
                        }
                    }
                }
            }
            catch (AmqpException e) when (e.IsConnectionError)
            {
                // A frame that cannot be parsed leaves the stream out of step: nothing after it is read.
                CloseWithError(e);
                buffer = buffer.Slice(buffer.End);
            }
            catch (Exception e) when (e is not (IOException or ObjectDisposedException or OperationCanceledException))
            {
                // A fault of the server's own: this connection ends with 541, the listener and the others go on.
                LogInternalError(Remote, e);
                CloseWithError(AmqpException.Connection(ReplyCode.InternalError, "INTERNAL_ERROR - the server failed to handle a frame"));
                buffer = buffer.Slice(buffer.End);
            }
            foreach (var channel in _channels.Values) channel.FlushConfirms();
            Wake();
            _reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted) return;
        }
    }

    // Reads one whole frame (header, payload, frame-end); false when more bytes are needed.
    private bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out byte type, out ushort channel, out ReadOnlySequence<byte> payload)
    {
        type = 0;
        channel = 0;
        payload = default;
        if (buffer.Length < FrameType.HeaderSize) return false;
        Span<byte> header = stackalloc byte[FrameType.HeaderSize];
        buffer.Slice(0, FrameType.HeaderSize).CopyTo(header);
        type = header[0];
        channel = BinaryPrimitives.ReadUInt16BigEndian(header[1..]);
        var size = BinaryPrimitives.ReadUInt32BigEndian(header[3..]);
        if (size > (uint)(FrameMax - FrameType.Overhead))
            throw AmqpException.Connection(ReplyCode.FrameError, $"FRAME_ERROR - frame size {size} is larger than frame-max {FrameMax} less its 8 bytes of framing");
        var total = FrameType.HeaderSize + (long)size + 1;
        if (buffer.Length < total) return false;
        var end = buffer.Slice(FrameType.HeaderSize + size, 1).FirstSpan[0];
        if (end != FrameType.End)
            throw AmqpException.Connection(ReplyCode.FrameError, $"FRAME_ERROR - frame-end octet 0x{end:x2} where 0xce belongs");
        payload = buffer.Slice(FrameType.HeaderSize, size);
        buffer = buffer.Slice(total);
        return true;
    }

    private ValueTask HandleFrameAsync(byte type, ushort channel, ReadOnlyMemory<byte> payload)
    {
        if (_state == State.Closing) return HandleWhileClosing(type, channel, payload.Span);
        try
        {
            switch (type)
            {
                case FrameType.Method:
                {
                    if (payload.Length < 4) throw AmqpException.Connection(ReplyCode.FrameError, "FRAME_ERROR - a method frame shorter than its class and method ids");
                    var method = BinaryPrimitives.ReadUInt32BigEndian(payload.Span);
                    if (channel == 0) return HandleConnectionMethodAsync(method, payload[4..]);
                    if (_state != State.Open) throw AmqpException.Connection(ReplyCode.ChannelError, "CHANNEL_ERROR - a channel method before connection.open");
                    return HandleChannelMethodAsync(channel, method, payload[4..]);
                }
                case FrameType.Header:
                case FrameType.Body:
                    if (_state != State.Open || channel == 0)
                        throw AmqpException.Connection(ReplyCode.UnexpectedFrame, "UNEXPECTED_FRAME - content on channel 0 or before connection.open");
                    if (!_channels.TryGetValue(channel, out var target))
                        throw AmqpException.Connection(ReplyCode.ChannelError, $"CHANNEL_ERROR - channel {channel} is not open");
                    try
                    {
                        if (type == FrameType.Header) target.HandleHeader(payload.Span);
                        else target.HandleBody(payload.Span);
                    }
                    catch (AmqpException e) when (!e.IsConnectionError)
                    {
                        target.CloseWithError(e);
                    }
                    return ValueTask.CompletedTask;
                case FrameType.Heartbeat:
                    if (channel != 0) throw AmqpException.Connection(ReplyCode.FrameError, "FRAME_ERROR - a heartbeat on a channel other than 0");
                    return ValueTask.CompletedTask;
                default:
                    throw AmqpException.Connection(ReplyCode.FrameError, $"FRAME_ERROR - unknown frame type {type}");
            }
        }
        catch (AmqpException e) when (e.IsConnectionError)
        {
            CloseWithError(e);
            return ValueTask.CompletedTask;
        }
    }

    // After connection.close is sent (spec 4.2.4 / 1.4.2.5): only close and close-ok count, everything else is dropped.
    private ValueTask HandleWhileClosing(byte type, ushort channel, ReadOnlySpan<byte> payload)
    {
        if (type != FrameType.Method || channel != 0 || payload.Length < 4) return ValueTask.CompletedTask;
        var method = BinaryPrimitives.ReadUInt32BigEndian(payload);
        if (method == MethodId.ConnectionCloseOk) _state = State.Closed;
        else if (method == MethodId.ConnectionClose)
        {
            Send(0, static (w, _) => w.WriteMethod(0, MethodId.ConnectionCloseOk));
            _state = State.Closed;
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Sends connection.close for a connection error and waits for close-ok.</summary>
    internal void CloseWithError(AmqpException e)
    {
        if (_state is State.Closing or State.Closed) return;
        LogConnectionError(Remote, e.ReplyCode, e.Message);
        if (_state == State.AwaitingHeader)
        {
            _state = State.Closed;
            return;
        }
        lock (_sendLock)
        {
            _state = State.Closing;
            WriteConnectionClose(_out, e.ReplyCode, e.Message, e.Method);
        }
        Wake();
        _ = Task.Delay(CloseOkTimeout).ContinueWith(static (_, s) => ((AmqpConnection)s!).Abort(), this, TaskScheduler.Default);
    }

    // ---------------------------------------------------------------- connection class

    private async ValueTask HandleConnectionMethodAsync(uint method, ReadOnlyMemory<byte> args)
    {
        try
        {
            switch (_state, method)
            {
                case (State.AwaitingStartOk, MethodId.ConnectionStartOk): StartOk(args.Span); break;
                case (State.AwaitingTuneOk, MethodId.ConnectionTuneOk): TuneOk(args.Span); break;
                case (State.AwaitingOpen, MethodId.ConnectionOpen): await OpenAsync(ReadOpen(args.Span)); break;
                case (_, MethodId.ConnectionClose):
                    new AmqpReader(args.Span).ReadShort();
                    Send(0, static (w, _) => w.WriteMethod(0, MethodId.ConnectionCloseOk));
                    _state = State.Closed;
                    break;
                case (State.Open, MethodId.ConnectionCloseOk): _state = State.Closed; break;
                case (State.Open, MethodId.ConnectionBlocked or MethodId.ConnectionUnblocked):
                    break; // a client telling the server it is blocked means nothing here
                case (State.Open, MethodId.ConnectionUpdateSecret):
                    throw AmqpException.Connection(ReplyCode.NotImplemented, "NOT_IMPLEMENTED - connection.update-secret: API keys do not need refreshing");
                default:
                    throw UnexpectedMethod(method, 0);
            }
        }
        catch (AmqpException e) when (e.IsConnectionError)
        {
            if (e.Method == 0) e.Method = method;
            CloseWithError(e);
        }
    }

    /// <summary>The error for a method that is unknown (540) or not valid where it came (503).</summary>
    internal static AmqpException UnexpectedMethod(uint method, ushort channel) => MethodNames.IsKnown(method)
        ? AmqpException.Connection(ReplyCode.CommandInvalid, $"COMMAND_INVALID - {MethodNames.Name(method)} is not valid {(channel == 0 ? "on channel 0" : "on a channel")} now")
        : AmqpException.Connection(ReplyCode.NotImplemented, $"NOT_IMPLEMENTED - unknown method {MethodId.Class(method)}.{MethodId.Method(method)}");

    private void StartOk(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        var client = r.ReadTable();
        _clientHandlesBlocked = client?.GetValueOrDefault("capabilities") is Dictionary<string, object?> capabilities
                                && capabilities.GetValueOrDefault("connection.blocked") is true;
        var mechanism = r.ReadShortStr();
        var response = r.ReadLongStrBytes();
        r.ReadShortStr(); // locale
        r.End();
        var (user, password) = mechanism switch
        {
            "PLAIN" => ParsePlain(response),
            "AMQPLAIN" => ParseAmqPlain(response),
            _ => throw AmqpException.Connection(ReplyCode.AccessRefused, $"ACCESS_REFUSED - unsupported authentication mechanism '{mechanism}' (PLAIN, AMQPLAIN)"),
        };
        User = Server.Authority.Authenticate(user, password)
               ?? throw AmqpException.Connection(ReplyCode.AccessRefused,
                   $"ACCESS_REFUSED - Login was refused using authentication mechanism {mechanism}. The password is an API key of user '{user}'.");
        _state = State.AwaitingTuneOk;
        var options = Server.Options;
        Send(options, static (w, o) =>
        {
            var at = w.BeginMethod(0, MethodId.ConnectionTune);
            w.WriteShort((ushort)o.ChannelMax);
            w.WriteLong((uint)o.FrameMax);
            w.WriteShort((ushort)o.HeartbeatSeconds);
            w.EndFrame(at);
        });
    }

    // PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd.
    private static (string User, string Password) ParsePlain(ReadOnlySpan<byte> response)
    {
        var first = response.IndexOf((byte)0);
        var rest = first < 0 ? default : response[(first + 1)..];
        var second = rest.IndexOf((byte)0);
        if (first < 0 || second < 0) throw AmqpException.Connection(ReplyCode.AccessRefused, "ACCESS_REFUSED - a PLAIN response is [authzid] NUL user NUL password");
        return (Utf8(rest[..second]), Utf8(rest[(second + 1)..]));
    }

    // AMQPLAIN: a field table's content (without its length) holding LOGIN and PASSWORD.
    private static (string User, string Password) ParseAmqPlain(ReadOnlySpan<byte> response)
    {
        var framed = new byte[response.Length + 4];
        BinaryPrimitives.WriteUInt32BigEndian(framed, (uint)response.Length);
        response.CopyTo(framed.AsSpan(4));
        var table = FieldTable.Decode(framed);
        if (table?.GetValueOrDefault("LOGIN") is not string user || table.GetValueOrDefault("PASSWORD") is not string password)
            throw AmqpException.Connection(ReplyCode.AccessRefused, "ACCESS_REFUSED - an AMQPLAIN response holds LOGIN and PASSWORD");
        return (user, password);
    }

    private static string Utf8(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    private void TuneOk(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        var channelMax = r.ReadShort();
        var frameMax = r.ReadLong();
        var heartbeat = r.ReadShort();
        r.End();
        var options = Server.Options;
        if (frameMax != 0 && frameMax < 4096)
            throw AmqpException.Connection(ReplyCode.NotAllowed, $"NOT_ALLOWED - frame_max={frameMax} < 4096 min size");
        if (frameMax > options.FrameMax)
            throw AmqpException.Connection(ReplyCode.NotAllowed, $"NOT_ALLOWED - frame_max={frameMax} > {options.FrameMax} max size");
        if (channelMax > options.ChannelMax)
            throw AmqpException.Connection(ReplyCode.NotAllowed, $"NOT_ALLOWED - channel_max={channelMax} > {options.ChannelMax} max channels");
        FrameMax = frameMax == 0 ? options.FrameMax : (int)frameMax;
        ChannelMax = channelMax == 0 ? (ushort)options.ChannelMax : channelMax;
        Heartbeat = heartbeat;
        _state = State.AwaitingOpen;
        if (heartbeat > 0)
        {
            var period = TimeSpan.FromSeconds(heartbeat / 2.0);
            _heartbeat = TimeProvider.System.CreateTimer(static s => ((AmqpConnection)s!).OnHeartbeatTick(), this, period, period);
        }
    }

    // Sends a heartbeat when nothing else went out for half an interval; cuts a peer silent for two intervals.
    private void OnHeartbeatTick()
    {
        var now = Environment.TickCount64;
        if (now - Volatile.Read(ref _lastReceived) > Heartbeat * 2000L)
        {
            LogHeartbeatMissed(Remote, Heartbeat * 2);
            Abort();
            return;
        }
        if (now - Volatile.Read(ref _lastSent) >= Heartbeat * 500L) Send(0, static (w, _) => w.WriteHeartbeat());
    }

    private static string ReadOpen(ReadOnlySpan<byte> args)
    {
        var r = new AmqpReader(args);
        var vhost = r.ReadShortStr();
        r.ReadShortStr(); // reserved (capabilities)
        r.ReadBit(); // reserved (insist)
        r.End();
        return vhost;
    }

    private async Task OpenAsync(string name)
    {
        var vhost = await Server.FindVhostAsync(name, _aborted.Token);
        if (vhost is null) throw AmqpException.Connection(ReplyCode.NotAllowed, $"NOT_ALLOWED - vhost '{name}' not found");
        if (!Server.Authority.CanOpen(User!, vhost.Name))
            throw AmqpException.Connection(ReplyCode.NotAllowed, $"NOT_ALLOWED - access to vhost '{name}' refused for user '{User!.Name}'");
        Vhost = vhost;
        _state = State.Open;
        Send(0, static (w, _) =>
        {
            var at = w.BeginMethod(0, MethodId.ConnectionOpenOk);
            w.WriteShortStr("");
            w.EndFrame(at);
        });
        LogOpened(Remote, vhost.Name, User!.Name);
        _revocation = User.Lifetime.Register(static s => ((AmqpConnection)s!).ForceClose(ReplyCode.ConnectionForced,
            "CONNECTION_FORCED - the API key this connection signed in with was revoked or expired, or its user was deleted"), this);
    }

    // A publisher meets the memory alarm: it is told (connection.blocked, to clients that announce the capability) and
    // not read from until the alarm clears, as RabbitMQ does; its silence meanwhile is not a missed heartbeat.
    private async Task WaitWhileBlockedAsync()
    {
        if (_clientHandlesBlocked)
            Send(0, static (w, _) =>
            {
                var at = w.BeginMethod(0, MethodId.ConnectionBlocked);
                w.WriteShortStr("low on memory (Gateway:Limits:MemoryHighWatermarkBytes)");
                w.EndFrame(at);
            });
        while (Server.PublishingBlocked?.Invoke() == true)
        {
            Volatile.Write(ref _lastReceived, Environment.TickCount64);
            await Task.Delay(50, _aborted.Token);
        }
        if (_clientHandlesBlocked) Send(0, static (w, _) => w.WriteMethod(0, MethodId.ConnectionUnblocked));
    }

    // ---------------------------------------------------------------- channels

    private async ValueTask HandleChannelMethodAsync(ushort number, uint method, ReadOnlyMemory<byte> args)
    {
        if (number > ChannelMax) throw AmqpException.Connection(ReplyCode.ChannelError, $"CHANNEL_ERROR - channel {number} is above channel-max {ChannelMax}");
        if (!_channels.TryGetValue(number, out var channel))
        {
            if (method != MethodId.ChannelOpen)
                throw AmqpException.Connection(ReplyCode.ChannelError, $"CHANNEL_ERROR - channel {number} is not open ({MethodNames.Name(method)})");
            var r = new AmqpReader(args.Span);
            r.ReadShortStr();
            r.End();
            _channels[number] = new AmqpChannel(this, number);
            Send(number, static (w, n) =>
            {
                var at = w.BeginMethod(n, MethodId.ChannelOpenOk);
                w.WriteLong(0); // reserved longstr
                w.EndFrame(at);
            });
            return;
        }
        if (method == MethodId.BasicPublish && Server.PublishingBlocked?.Invoke() == true) await WaitWhileBlockedAsync();
        try
        {
            await channel.HandleMethodAsync(method, args);
        }
        catch (AmqpException e)
        {
            if (e.Method == 0) e.Method = method;
            if (e.IsConnectionError) throw;
            channel.CloseWithError(e);
        }
        catch (BrokerException e)
        {
            var error = AmqpChannel.ToAmqp(e);
            error.Method = method;
            channel.CloseWithError(error);
        }
        catch (FeatureNotSupportedException e)
        {
            throw new AmqpException(ReplyCode.NotImplemented, "NOT_IMPLEMENTED - " + e.Message, isConnectionError: true, method);
        }
        catch (Exception e) when (e is StorageException or BrokerUnavailableException)
        {
            throw new AmqpException(ReplyCode.InternalError, "INTERNAL_ERROR - the operation could not be stored or the backend is unavailable: " + e.Message,
                isConnectionError: true, method);
        }
        if (channel.IsFinished)
        {
            _channels.Remove(number);
            await channel.EndAsync();
        }
    }
}
