using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Gateway.Amqp.Connections;
using Gateway.Amqp.Protocol;
using Gateway.Broker;
using Microsoft.Extensions.Logging;

namespace Gateway.Amqp;

/// <summary>
/// The AMQP 0-9-1 TCP listener on an <see cref="IBroker"/>: accepts sockets (TLS when a certificate is configured)
/// and runs one <see cref="AmqpConnection"/> on each. Every operation goes through the broker's seam, so AMQP
/// clients share exchanges, queues, statistics and the journal with the HTTP and WebSocket clients.
/// </summary>
/// <remarks>
/// Errors of the accept loop, by tier: the listener was stopped (the socket is disposed) ends the loop; a transient
/// failure of one accept (the peer reset before it was accepted) is skipped; resource pressure (out of file
/// descriptors) is logged and retried after a short pause, so that a flood of connections cannot spin the loop.
/// A connection's own failure never reaches the loop: each runs on its own and ends only itself.
/// </remarks>
public sealed partial class AmqpListener : IAsyncDisposable
{
    private readonly AmqpOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<AmqpConnection, Task> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly X509Certificate2? _certificate;
    private Socket? _socket;
    private Task? _accepting;

    /// <summary>Creates the listener; <see cref="StartAsync"/> binds it.</summary>
    /// <param name="broker">The engine every connection works on.</param>
    /// <param name="authority">Sign-in and permission checks.</param>
    /// <param name="options">The listener's settings.</param>
    /// <param name="limits">The gateway's message limits.</param>
    /// <param name="loggers">Where connections log.</param>
    /// <param name="publishingBlocked">
    /// True while publishers must wait (the host's memory alarm): a connection that publishes then gets
    /// connection.blocked and is not read from until it turns false (connection.unblocked), as RabbitMQ does.
    /// </param>
    public AmqpListener(IBroker broker, IAmqpAuthority authority, AmqpOptions options, AmqpLimits limits, ILoggerFactory loggers,
        Func<bool>? publishingBlocked = null)
    {
        if (options.Validate() is { } invalid) throw new ArgumentException(invalid, nameof(options));
        _options = options;
        _logger = loggers.CreateLogger<AmqpListener>();
        Server = new AmqpServer(broker, authority, options, limits, loggers.CreateLogger<AmqpConnection>()) { PublishingBlocked = publishingBlocked };
        if (options.CertificatePath is { Length: > 0 } path)
            _certificate = X509CertificateLoader.LoadPkcs12FromFile(path, options.CertificatePassword);
    }

    internal AmqpServer Server { get; }

    /// <summary>The address and port bound (the port chosen when <see cref="AmqpOptions.Port"/> is 0); null before start.</summary>
    public IPEndPoint? LocalEndPoint => _socket?.LocalEndPoint as IPEndPoint;

    /// <summary>Open AMQP connections now.</summary>
    public int ConnectionCount => _connections.Count;

    [LoggerMessage(EventId = 4601, Level = LogLevel.Information, Message = "AMQP 0-9-1 listener on {EndPoint} ({Scheme})")]
    private partial void LogListening(IPEndPoint? endPoint, string scheme);

    [LoggerMessage(EventId = 4602, Level = LogLevel.Warning, Message = "AMQP accept failed ({Error}); retrying shortly")]
    private partial void LogAcceptFailed(SocketError error);

    [LoggerMessage(EventId = 4603, Level = LogLevel.Debug, Message = "AMQP TLS handshake with {Remote} failed")]
    private partial void LogTlsFailed(EndPoint? remote, Exception exception);

    /// <summary>
    /// Binds the port, and starts accepting once <paramref name="acceptAfter"/> completes (the host's recovery):
    /// clients connecting before wait in the listen backlog.
    /// </summary>
    public Task StartAsync(Task? acceptAfter = null, CancellationToken cancellationToken = default)
    {
        var address = IPAddress.Parse(_options.Address);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            socket.Bind(new IPEndPoint(address, _options.Port));
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _socket = socket;
        LogListening(LocalEndPoint, _certificate is null ? "amqp" : "amqps");
        _accepting = Task.Run(async () =>
        {
            if (acceptAfter is not null)
                try
                {
                    await acceptAfter.WaitAsync(_stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            await AcceptLoopAsync();
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _socket!.AcceptAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                continue;
            }
            catch (SocketException e)
            {
                LogAcceptFailed(e.SocketErrorCode);
                try { await Task.Delay(100, _stopping.Token); } catch (OperationCanceledException) { return; }
                continue;
            }
            client.NoDelay = true;
            _ = Task.Run(() => RunAsync(client), CancellationToken.None);
        }
    }

    private async Task RunAsync(Socket client)
    {
        Stream stream = new NetworkStream(client, ownsSocket: true);
        if (_certificate is not null)
        {
            var tls = new SslStream(stream, leaveInnerStreamOpen: false);
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                timeout.CancelAfter(TimeSpan.FromSeconds(_options.HandshakeTimeoutSeconds));
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, timeout.Token);
            }
            catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException)
            {
                LogTlsFailed(client.RemoteEndPoint, e);
                await tls.DisposeAsync();
                return;
            }
            stream = tls;
        }
        var connection = new AmqpConnection(Server, stream, client.RemoteEndPoint?.ToString() ?? "?");
        var run = connection.RunAsync(_stopping.Token);
        _connections[connection] = run;
        try
        {
            await run;
        }
        finally
        {
            _connections.TryRemove(connection, out _);
        }
    }

    /// <summary>
    /// Stops accepting and closes every connection with 320 CONNECTION_FORCED (as RabbitMQ at shutdown), waiting for
    /// them to end until <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_stopping.IsCancellationRequested) return;
        _socket?.Dispose();
        foreach (var connection in _connections.Keys) connection.ForceClose(ReplyCode.ConnectionForced, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'");
        try
        {
            await Task.WhenAll(_connections.Values).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // Connections that do not finish their close handshake in time are cut below.
        }
        _stopping.Cancel();
        if (_accepting is not null) await _accepting;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _certificate?.Dispose();
        _stopping.Dispose();
    }
}
