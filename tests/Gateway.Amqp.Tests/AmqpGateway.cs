using Gateway.Server.Amqp;
using Gateway.Server.Tests;
using RabbitMQ.Client;

namespace Gateway.Amqp.Tests;

/// <summary>
/// A secured in-memory gateway (the bootstrap administrator's key known) whose AMQP listener runs on a free loopback
/// port; RabbitMQ.Client connects to it over a real socket. One per test class; tests isolate themselves in vhosts.
/// </summary>
public class AmqpGateway : SecuredGateway
{
    private HttpClient? _admin;

    /// <summary>The bootstrap administrator's name (Gateway:Auth:BootstrapUser's default).</summary>
    public const string AdminUser = "admin";

    /// <summary>The port the listener bound.</summary>
    public int AmqpPort => Service<AmqpListenerService>().Listener?.LocalEndPoint?.Port
                           ?? throw new InvalidOperationException("The AMQP listener is not running.");

    /// <summary>An HTTP client with the administrator's key.</summary>
    public HttpClient Admin => _admin ??= CreateAdminClient();

    /// <summary>A RabbitMQ.Client factory for this gateway (no automatic recovery unless asked).</summary>
    public ConnectionFactory Factory(string vhost = "/", string user = AdminUser, string key = AdminKey) => new()
    {
        HostName = "127.0.0.1",
        Port = AmqpPort,
        UserName = user,
        Password = key,
        VirtualHost = vhost,
        AutomaticRecoveryEnabled = false,
        TopologyRecoveryEnabled = false,
        ContinuationTimeout = TimeSpan.FromSeconds(10),
        RequestedConnectionTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>Connects as the administrator to <paramref name="vhost"/>.</summary>
    public Task<IConnection> ConnectAsync(string vhost = "/") => Factory(vhost).CreateConnectionAsync();

    /// <summary>A new vhost in which the administrator may do everything; returns its name.</summary>
    public async Task<string> NewVhostAsync()
    {
        var vhost = await Admin.CreateVhostAsync("amqp");
        await Admin.SetPermissionAsync(vhost, AdminUser, ".*", ".*", ".*");
        return vhost;
    }

    /// <summary>A new vhost, a connection to it, a channel and a durable queue (named <paramref name="queue"/>).</summary>
    internal async Task<Session> SessionAsync(string queue = "q", CreateChannelOptions? options = null)
    {
        var vhost = await NewVhostAsync();
        var connection = await ConnectAsync(vhost);
        var channel = await connection.CreateChannelAsync(options);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
        return new Session(this, vhost, connection, channel, queue);
    }

    protected override void Dispose(bool disposing)
    {
        _admin?.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>A test's vhost, connection, channel and queue; disposing closes the connection.</summary>
internal sealed record Session(AmqpGateway Gateway, string Vhost, IConnection Connection, IChannel Channel, string Queue) : IAsyncDisposable
{
    /// <summary>The queue as the HTTP API shows it now.</summary>
    public Task<ApiQueue> QueueInfoAsync() => Gateway.Admin.GetQueueAsync(Vhost, Queue);

    /// <summary>Waits until the queue's counts satisfy <paramref name="condition"/>.</summary>
    public Task WaitForQueueAsync(Func<ApiQueue, bool> condition, string what) =>
        AmqpAssert.EventuallyAsync(async () => condition(await QueueInfoAsync()), what);

    public async ValueTask DisposeAsync() => await Connection.DisposeAsync();
}
