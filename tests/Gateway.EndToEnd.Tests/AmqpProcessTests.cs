using System.Collections.Concurrent;
using System.Text;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Gateway.EndToEnd.Tests;

/// <summary>RabbitMQ.Client against the AMQP listener of the real server process: kill -9 and restarts.</summary>
public sealed class AmqpProcessTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    // Authentication is off in these tests (GatewayProcess's default): any name and password sign in.
    private static ConnectionFactory Factory(GatewayProcess gateway, bool recover = false) => new()
    {
        HostName = "127.0.0.1",
        Port = gateway.AmqpPort,
        UserName = "e2e",
        Password = "e2e",
        AutomaticRecoveryEnabled = recover,
        TopologyRecoveryEnabled = recover,
        NetworkRecoveryInterval = TimeSpan.FromMilliseconds(200),
        RequestedConnectionTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>
    /// A publisher keeps a window of 200 persistent publishes with confirms in flight and is cut off by kill -9 after
    /// 3,000 confirms. After a restart the queue holds every confirmed message exactly once, and nothing that was not
    /// published.
    /// </summary>
    [Fact]
    public async Task Persistent_messages_confirmed_over_AMQP_survive_kill_9()
    {
        await using var gateway = await GatewayProcess.StartAsync(output);
        var confirmed = new ConcurrentDictionary<int, bool>();
        var published = 0;
        var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (var connection = await Factory(gateway).CreateConnectionAsync())
        {
            var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
            await channel.QueueDeclareAsync("amqp-crash", durable: true, exclusive: false, autoDelete: false);
            var persistent = new BasicProperties { DeliveryMode = DeliveryModes.Persistent };
            var window = new SemaphoreSlim(200);
            var publishing = Task.Run(async () =>
            {
                for (var i = 0; !enough.Task.IsCompleted; i++)
                {
                    await window.WaitAsync();
                    var n = i;
                    Interlocked.Increment(ref published);
                    _ = channel.BasicPublishAsync("", "amqp-crash", mandatory: false, persistent, Encoding.UTF8.GetBytes($"m-{n}")).AsTask().ContinueWith(t =>
                    {
                        window.Release();
                        if (!t.IsCompletedSuccessfully) return;
                        confirmed[n] = true;
                        if (confirmed.Count >= 3000) enough.TrySetResult();
                    }, TaskScheduler.Default);
                }
            });
            await enough.Task.WaitAsync(Deadline);
            gateway.Kill();
            await publishing.WaitAsync(Deadline);
        }
        var confirmedAtKill = confirmed.Keys.ToHashSet();
        output.WriteLine($"{confirmedAtKill.Count} confirmed of {published} published at the kill");

        await gateway.RestartAsync();
        await using var after = await Factory(gateway).CreateConnectionAsync();
        await using var reader = await after.CreateChannelAsync();
        var count = (await reader.QueueDeclarePassiveAsync("amqp-crash")).MessageCount;
        var seen = new List<int>();
        for (var i = 0; i < count; i++)
        {
            var got = await reader.BasicGetAsync("amqp-crash", autoAck: true);
            Assert.NotNull(got);
            seen.Add(int.Parse(Encoding.UTF8.GetString(got.Body.Span)[2..], System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.Null(await reader.BasicGetAsync("amqp-crash", autoAck: true));
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Empty(confirmedAtKill.Except(seen));
        Assert.All(seen, n => Assert.InRange(n, 0, published - 1));
    }

    /// <summary>
    /// RabbitMQ.Client's automatic recovery brings the connection, its channel, the server-named queue's binding and
    /// the consumer back after the gateway restarts on the same AMQP port: a message published after the restart
    /// reaches the same consumer.
    /// </summary>
    [Fact]
    public async Task A_RabbitMQ_client_recovers_its_connection_and_consumer_after_a_gateway_restart()
    {
        await using var gateway = await GatewayProcess.StartAsync(output);
        await using var connection = await Factory(gateway, recover: true).CreateConnectionAsync();
        var recovered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.RecoverySucceededAsync += (_, _) =>
        {
            recovered.TrySetResult();
            return Task.CompletedTask;
        };
        await using var channel = await connection.CreateChannelAsync();
        await channel.ExchangeDeclareAsync("events", ExchangeType.Fanout, durable: true);
        await channel.QueueDeclareAsync("recovering", durable: true, exclusive: false, autoDelete: false);
        await channel.QueueBindAsync("recovering", "events", "");
        var received = System.Threading.Channels.Channel.CreateUnbounded<string>();
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, e) =>
        {
            received.Writer.TryWrite(Encoding.UTF8.GetString(e.Body.Span));
            await channel.BasicAckAsync(e.DeliveryTag, multiple: false);
        };
        await channel.BasicConsumeAsync("recovering", autoAck: false, consumer);
        await channel.BasicPublishAsync("events", "", "before"u8.ToArray());
        using (var timeout = new CancellationTokenSource(Deadline))
            Assert.Equal("before", await received.Reader.ReadAsync(timeout.Token));

        await gateway.StopAsync();
        await gateway.RestartAsync();
        await recovered.Task.WaitAsync(Deadline);
        await channel.BasicPublishAsync("events", "", "after"u8.ToArray());
        using (var timeout = new CancellationTokenSource(Deadline))
            Assert.Equal("after", await received.Reader.ReadAsync(timeout.Token));
    }
}
