using System.Net;
using Gateway.Server.Tests;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Gateway.Amqp.Tests;

/// <summary>Users, API keys and permissions over AMQP: the same checks as over HTTP.</summary>
public sealed class SecurityTests(AmqpGateway gateway) : IClassFixture<AmqpGateway>
{
    private async Task<(string Vhost, TestUser User)> UserAsync((string, string, string)? permissions) =>
        await TestUser.InNewVhostAsync(gateway, gateway.Admin, permissions);

    // The reply code of a connection the server refused at connection.open. RabbitMQ.Client 7 may hand out the
    // connection before it reads the server's connection.close (as it does with RabbitMQ), or throw: both are read.
    private static async Task<ushort> RefusalCodeAsync(ConnectionFactory factory)
    {
        IConnection connection;
        try
        {
            connection = await factory.CreateConnectionAsync();
        }
        catch (Exception e)
        {
            for (var inner = e; inner is not null; inner = inner.InnerException)
                if (inner is OperationInterruptedException { ShutdownReason: { } reason }) return reason.ReplyCode;
            throw;
        }
        await using (connection)
        {
            await AmqpAssert.EventuallyAsync(() => Task.FromResult(connection.CloseReason is not null), "the server to close the connection");
            Assert.Equal(ShutdownInitiator.Peer, connection.CloseReason!.Initiator);
            return connection.CloseReason.ReplyCode;
        }
    }

    // RabbitMQ.Client 7 may return the connection before the server has answered connection.open: a channel's round
    // trip shows that the server has opened it (a change made before that would be seen by the open itself).
    private static async Task OpenedAsync(IConnection connection)
    {
        await using var channel = await connection.CreateChannelAsync();
        Assert.True(connection.IsOpen);
    }

    [Fact]
    public async Task A_user_connects_with_its_own_key_and_not_with_anothers_name()
    {
        var (vhost, user) = await UserAsync((".*", ".*", ".*"));
        await using (var connection = await gateway.Factory(vhost, user.Name, user.Key).CreateConnectionAsync())
            Assert.True(connection.IsOpen);
        var e = await Assert.ThrowsAnyAsync<BrokerUnreachableException>(() => gateway.Factory(vhost, AmqpGateway.AdminUser, user.Key).CreateConnectionAsync());
        Assert.IsType<AuthenticationFailureException>(e.InnerException);
    }

    [Fact]
    public async Task Opening_a_vhost_without_a_permission_entry_or_a_missing_vhost_is_530()
    {
        var (vhost, user) = await UserAsync(null);
        Assert.Equal(530, await RefusalCodeAsync(gateway.Factory(vhost, user.Name, user.Key)));
        Assert.Equal(530, await RefusalCodeAsync(gateway.Factory("no-such-vhost")));
    }

    [Fact]
    public async Task Configure_write_and_read_are_checked_per_resource_as_over_HTTP()
    {
        var (vhost, user) = await UserAsync(("^mine-", "^mine-", "^mine-"));
        await gateway.Admin.DeclareQueueAsync(vhost, "theirs");
        await using var connection = await gateway.Factory(vhost, user.Name, user.Key).CreateConnectionAsync();
        var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync("mine-q", durable: true, exclusive: false, autoDelete: false);
        await AmqpAssert.ClosedWithAsync(403, () => channel.QueueDeclareAsync("other-q", durable: true, exclusive: false, autoDelete: false));
        channel = await connection.CreateChannelAsync();
        await AmqpAssert.ClosedWithAsync(403, () => channel.BasicGetAsync("theirs", autoAck: true));
        channel = await connection.CreateChannelAsync();
        await AmqpAssert.ClosedWithAsync(403, () => channel.QueuePurgeAsync("theirs"));
        channel = await connection.CreateChannelAsync();
        // The default exchange is "amq.default" in permissions, which ^mine- does not match.
        var closed = new TaskCompletionSource<ushort>();
        channel.ChannelShutdownAsync += (_, e) =>
        {
            closed.TrySetResult(e.ReplyCode);
            return Task.CompletedTask;
        };
        await channel.BasicPublishAsync("", "mine-q", "x"u8.ToArray());
        Assert.Equal(403, await closed.Task.WaitAsync(Inbox.Deadline));
        Assert.Equal(0, (await gateway.Admin.GetQueueAsync(vhost, "mine-q")).MessagesReady);
    }

    [Fact]
    public async Task Revoking_the_key_closes_its_AMQP_connections_with_320()
    {
        var (vhost, user) = await UserAsync((".*", ".*", ".*"));
        var key = await gateway.Admin.CreateKeyAsync(user.Name);
        await using var connection = await gateway.Factory(vhost, user.Name, key.Key).CreateConnectionAsync();
        await OpenedAsync(connection);
        var closed = new TaskCompletionSource<ShutdownEventArgs>();
        connection.ConnectionShutdownAsync += (_, e) =>
        {
            closed.TrySetResult(e);
            return Task.CompletedTask;
        };
        await gateway.Admin.SendOkAsync(HttpMethod.Delete, SecurityUrls.Key(user.Name, key.Info.Id), null, HttpStatusCode.NoContent);
        var reason = await closed.Task.WaitAsync(Inbox.Deadline);
        Assert.Equal(320, reason.ReplyCode);
        Assert.Equal(ShutdownInitiator.Peer, reason.Initiator);
        // The user's other key still works.
        await using var other = await gateway.Factory(vhost, user.Name, user.Key).CreateConnectionAsync();
        Assert.True(other.IsOpen);
    }

    [Fact]
    public async Task Deleting_the_user_closes_its_AMQP_connections_with_320()
    {
        var (vhost, user) = await UserAsync((".*", ".*", ".*"));
        await using var connection = await gateway.Factory(vhost, user.Name, user.Key).CreateConnectionAsync();
        await OpenedAsync(connection);
        var closed = new TaskCompletionSource<ushort>();
        connection.ConnectionShutdownAsync += (_, e) =>
        {
            closed.TrySetResult(e.ReplyCode);
            return Task.CompletedTask;
        };
        await gateway.Admin.SendOkAsync(HttpMethod.Delete, SecurityUrls.User(user.Name), null, HttpStatusCode.NoContent);
        Assert.Equal(320, await closed.Task.WaitAsync(Inbox.Deadline));
    }
}
