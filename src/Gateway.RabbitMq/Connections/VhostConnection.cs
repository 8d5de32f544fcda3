using System.Diagnostics;
using Gateway.Broker;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Gateway.RabbitMq.Connections;

/// <summary>
/// The AMQP connection of one vhost (an AMQP connection is bound to one vhost), with its pool of confirm-mode
/// publish channels. Connects on demand to the first endpoint that answers and, after a loss, reconnects over the
/// endpoint list in the background.
/// </summary>
/// <remarks>
/// Failure tiers, each answered without hanging:
/// <list type="bullet">
/// <item>one endpoint refuses or times out (ConnectTimeout): the next is tried at once;</item>
/// <item>every endpoint failed: the vhost is unavailable for a backoff (0.25 s doubling up to ReconnectMaxDelay),
/// during which every operation throws <see cref="BrokerUnavailableException"/> at once with that Retry-After;</item>
/// <item>an operation that finds another caller connecting waits for it at most ConnectTimeout.</item>
/// </list>
/// RabbitMQ.Client's automatic recovery is off: topology lives in RabbitMQ, channels are reopened by their users,
/// and subscriptions end with <c>BackendUnavailable</c> so that their clients subscribe again.
/// </remarks>
internal sealed class VhostConnection : IAsyncDisposable
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(250);

    private readonly RabbitMqOptions _options;
    private readonly IReadOnlyList<Uri> _endpoints;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private readonly SemaphoreSlim _poolGate = new(1, 1);
    private readonly PublishChannel?[] _pool;
    private volatile IConnection? _connection;
    private long _nextAttemptTicks;
    private TimeSpan _backoff = FirstBackoff;
    private int _poolCursor;
    private bool _everConnected;
    private volatile bool _disposed;
    private int _reconnecting;

    public VhostConnection(string rabbitVhost, RabbitMqOptions options, ILogger logger)
    {
        RabbitVhost = rabbitVhost;
        _options = options;
        _endpoints = options.AmqpEndpoints;
        _logger = logger;
        _pool = new PublishChannel?[options.ChannelPoolSize];
    }

    /// <summary>The RabbitMQ vhost name.</summary>
    public string RabbitVhost { get; }

    /// <summary>The endpoint connected to, for health reports.</summary>
    public string? ConnectedEndpoint { get; private set; }

    /// <summary>Why the last attempt failed, for health reports.</summary>
    public string? LastError { get; private set; }

    public bool IsConnected => _connection is { IsOpen: true };

    /// <summary>The open connection, connecting first if needed; <see cref="BrokerUnavailableException"/> when none can be had.</summary>
    public async ValueTask<IConnection> GetConnectionAsync(CancellationToken cancellationToken)
    {
        if (_connection is { IsOpen: true } open) return open;
        ObjectDisposedException.ThrowIf(_disposed, this);
        var wait = TimeSpan.FromTicks(Interlocked.Read(ref _nextAttemptTicks) - NowTicks());
        if (wait > TimeSpan.Zero) throw Unavailable(wait);
        if (!await _connectGate.WaitAsync(_options.ConnectTimeout * Math.Max(1, _endpoints.Count), cancellationToken).ConfigureAwait(false))
            throw Unavailable(TimeSpan.FromSeconds(1));
        try
        {
            if (_connection is { IsOpen: true } again) return again;
            wait = TimeSpan.FromTicks(Interlocked.Read(ref _nextAttemptTicks) - NowTicks());
            if (wait > TimeSpan.Zero) throw Unavailable(wait);
            return await ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _connectGate.Release();
        }
    }

    private static long NowTicks() => Environment.TickCount64 * TimeSpan.TicksPerMillisecond;

    private BrokerUnavailableException Unavailable(TimeSpan retryAfter, Exception? inner = null) =>
        new($"No RabbitMQ node is reachable for vhost '{RabbitVhost}'{(LastError is null ? "" : $" ({LastError})")}.",
            TimeSpan.FromSeconds(Math.Clamp(Math.Ceiling(retryAfter.TotalSeconds), 1, 5)), inner);

    private async Task<IConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        Exception? last = null;
        foreach (var endpoint in _endpoints)
        {
            var factory = new ConnectionFactory
            {
                Uri = endpoint,
                VirtualHost = RabbitVhost,
                AutomaticRecoveryEnabled = false,
                TopologyRecoveryEnabled = false,
                RequestedConnectionTimeout = _options.ConnectTimeout,
                ContinuationTimeout = _options.ConnectTimeout,
                HandshakeContinuationTimeout = _options.ConnectTimeout,
                RequestedHeartbeat = TimeSpan.FromSeconds(10),
                ClientProvidedName = $"gateway {_options.NodeName}",
            };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.ConnectTimeout);
            try
            {
                var connection = await factory.CreateConnectionAsync(timeout.Token).ConfigureAwait(false);
                connection.ConnectionShutdownAsync += OnConnectionShutdownAsync;
                _connection = connection;
                ConnectedEndpoint = $"{endpoint.Host}:{endpoint.Port}";
                LastError = null;
                _backoff = FirstBackoff;
                Interlocked.Exchange(ref _nextAttemptTicks, 0);
                if (_everConnected) Log.Reconnected(_logger, ConnectedEndpoint, RabbitVhost);
                else Log.Connected(_logger, ConnectedEndpoint, RabbitVhost);
                _everConnected = true;
                return connection;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                last = e;
                LastError = $"{endpoint.Host}:{endpoint.Port}: {Describe(e)}";
                Log.EndpointFailed(_logger, $"{endpoint.Host}:{endpoint.Port}", RabbitVhost, Describe(e));
                if (IsVhostMissing(e))
                    throw new BrokerException(BrokerError.NotFound, $"RabbitMQ has no vhost '{RabbitVhost}'.");
            }
        }
        Interlocked.Exchange(ref _nextAttemptTicks, NowTicks() + _backoff.Ticks);
        Log.NoEndpointReachable(_logger, RabbitVhost, _backoff);
        var retry = _backoff;
        _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
        throw Unavailable(retry, last);
    }

    private static bool IsVhostMissing(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x.Message.Contains("access to vhost", StringComparison.OrdinalIgnoreCase) ||
                x.Message.Contains("vhost", StringComparison.OrdinalIgnoreCase) && x.Message.Contains("not found", StringComparison.OrdinalIgnoreCase))
                return true;
        return false;
    }

    private static string Describe(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null && inner is BrokerUnreachableException or AggregateException) inner = inner.InnerException;
        return inner is OperationCanceledException ? "timed out" : inner.Message;
    }

    private Task OnConnectionShutdownAsync(object sender, ShutdownEventArgs e)
    {
        if (ReferenceEquals(sender, _connection) || sender is IConnection c && ReferenceEquals(c, _connection)) _connection = null;
        if (e.Initiator == ShutdownInitiator.Application || _disposed) return Task.CompletedTask;
        Log.ConnectionLost(_logger, RabbitVhost, e.ReplyCode, e.ReplyText);
        ConnectionLost?.Invoke();
        StartReconnecting();
        return Task.CompletedTask;
    }

    /// <summary>Raised when the connection is lost (not when closed by the gateway).</summary>
    public event Action? ConnectionLost;

    // After a loss, reconnect in the background so that /readyz turns ready without waiting for traffic.
    private void StartReconnecting()
    {
        if (Interlocked.Exchange(ref _reconnecting, 1) == 1) return;
        _ = Task.Run(async () =>
        {
            try
            {
                while (!_disposed && !IsConnected)
                {
                    try
                    {
                        await GetConnectionAsync(CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (Exception)
                    {
                        await Task.Delay(_backoff).ConfigureAwait(false);
                    }
                }
            }
            finally
            {
                Volatile.Write(ref _reconnecting, 0);
            }
        });
    }

    /// <summary>A new channel of its own (subscriptions, leases, topology); the caller closes it.</summary>
    public async Task<IChannel> OpenChannelAsync(bool confirms, CancellationToken cancellationToken)
    {
        var connection = await GetConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await connection.CreateChannelAsync(
                confirms ? new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true) : null,
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AlreadyClosedException or OperationInterruptedException or IOException or TimeoutException
                                      || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable(TimeSpan.FromSeconds(1), e);
        }
    }

    /// <summary>A publish channel of the pool (shared: many publishes may be in flight on it).</summary>
    public async ValueTask<PublishChannel> GetPublishChannelAsync(CancellationToken cancellationToken)
    {
        var slot = (int)((uint)Interlocked.Increment(ref _poolCursor) % (uint)_pool.Length);
        if (Volatile.Read(ref _pool[slot]) is { Channel.IsOpen: true, Retired: false } ready) return ready;
        await _poolGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_pool[slot] is { Channel.IsOpen: true, Retired: false } again) return again;
            var channel = await OpenChannelAsync(confirms: true, cancellationToken).ConfigureAwait(false);
            var pooled = new PublishChannel(channel, slot);
            Volatile.Write(ref _pool[slot], pooled);
            return pooled;
        }
        finally
        {
            _poolGate.Release();
        }
    }

    /// <summary>
    /// Takes a channel out of the pool (it was nacked, or closed by the broker): no publish goes to it any more.
    /// Publishes still in flight on it get their confirms; it is closed once they had time to.
    /// </summary>
    public void Retire(PublishChannel channel)
    {
        if (channel.Retired) return;
        channel.Retired = true;
        Interlocked.CompareExchange(ref _pool[channel.Slot], null, channel);
        _ = Task.Run(async () =>
        {
            await Task.Delay(_options.PublishTimeout).ConfigureAwait(false);
            await CloseQuietlyAsync(channel.Channel).ConfigureAwait(false);
        });
    }

    /// <summary>Runs <paramref name="action"/> on a channel of its own (a refusal closes an AMQP channel), mapping refusals.</summary>
    public async Task<T> OnThrowawayChannelAsync<T>(Func<IChannel, Task<T>> action, CancellationToken cancellationToken)
    {
        var channel = await OpenChannelAsync(confirms: false, cancellationToken).ConfigureAwait(false);
        try
        {
            return await action(channel).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && AmqpErrors.Map(e) is { } mapped)
        {
            throw mapped;
        }
        finally
        {
            await CloseQuietlyAsync(channel).ConfigureAwait(false);
        }
    }

    public static async Task CloseQuietlyAsync(IChannel channel)
    {
        try
        {
            if (channel.IsOpen) await channel.CloseAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Closed by the broker meanwhile, or the connection went: nothing left to close.
        }
        finally
        {
            try { channel.Dispose(); } catch (Exception) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        if (_connection is { } connection)
        {
            _connection = null;
            try
            {
                await connection.CloseAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
            }
            catch (Exception) { }
            connection.Dispose();
        }
    }
}

/// <summary>A pooled confirm-mode channel.</summary>
internal sealed class PublishChannel(IChannel channel, int slot)
{
    public IChannel Channel { get; } = channel;
    public int Slot { get; } = slot;
    public volatile bool Retired;
}

/// <summary>AMQP refusals as the gateway's exceptions.</summary>
internal static class AmqpErrors
{
    /// <summary>The AMQP close reason carried by a RabbitMQ.Client exception, or null.</summary>
    public static ShutdownEventArgs? Reason(Exception e) => e switch
    {
        OperationInterruptedException oie => oie.ShutdownReason,
        _ => e.InnerException is { } inner ? Reason(inner) : null,
    };

    /// <summary>
    /// A channel-level refusal as a <see cref="BrokerException"/>; a lost connection or a timeout as
    /// <see cref="BrokerUnavailableException"/>; null for anything else (a bug: let it through).
    /// </summary>
    public static Exception? Map(Exception e)
    {
        if (e is BrokerException or BrokerUnavailableException or FeatureNotSupportedException) return null;
        if (Reason(e) is { } reason)
        {
            var text = reason.ReplyText ?? "";
            return reason.ReplyCode switch
            {
                404 => new BrokerException(BrokerError.NotFound, Clean(text)),
                403 => new BrokerException(BrokerError.AccessRefused, Clean(text)),
                405 => new BrokerException(BrokerError.ResourceLocked, Clean(text)),
                406 => new BrokerException(BrokerError.PreconditionFailed, Clean(text)),
                540 or 530 or 502 or 503 => new BrokerException(BrokerError.InvalidArgument, Clean(text)),
                _ => new BrokerUnavailableException($"The RabbitMQ connection was lost ({reason.ReplyCode} {text}).", TimeSpan.FromSeconds(1), e),
            };
        }
        return e switch
        {
            TimeoutException or IOException or BrokerUnreachableException =>
                new BrokerUnavailableException($"RabbitMQ did not answer ({e.Message}).", TimeSpan.FromSeconds(1), e),
            OperationCanceledException => new BrokerUnavailableException("RabbitMQ did not answer in time.", TimeSpan.FromSeconds(1), e),
            _ => null,
        };
    }

    // "NOT_FOUND - no queue 'q' in vhost '/'" → "RabbitMQ: no queue 'q' in vhost '/'"
    private static string Clean(string text)
    {
        var dash = text.IndexOf(" - ", StringComparison.Ordinal);
        return "RabbitMQ: " + (dash >= 0 ? text[(dash + 3)..] : text);
    }
}
