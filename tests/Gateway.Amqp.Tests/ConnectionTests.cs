using System.Text;
using Gateway.Server.Tests;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Gateway.Amqp.Tests;

public sealed class ConnectionTests(AmqpGateway gateway) : IClassFixture<AmqpGateway>
{
    [Fact]
    public async Task RabbitMQ_client_connects_with_the_bootstrap_administrators_name_and_key()
    {
        await using var connection = await gateway.ConnectAsync();
        Assert.True(connection.IsOpen);
        Assert.Equal("Gateway", Encoding.UTF8.GetString((byte[])connection.ServerProperties!["product"]!));
        await using var channel = await connection.CreateChannelAsync();
        var queue = await channel.QueueDeclareAsync();
        Assert.StartsWith("amq.gen-", queue.QueueName);
    }

    [Fact]
    public async Task A_wrong_key_is_refused_with_access_refused()
    {
        var factory = gateway.Factory(key: "gw_testadminkey.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
        var e = await Assert.ThrowsAnyAsync<BrokerUnreachableException>(() => factory.CreateConnectionAsync());
        Assert.IsType<AuthenticationFailureException>(e.InnerException);
    }
}
