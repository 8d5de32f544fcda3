using Gateway.Broker;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Testing;

namespace Gateway.RabbitMq.Tests;

/// <summary>
/// Shared arrangement of the RabbitMQ backend tests: a <see cref="RabbitMqBroker"/> over the collection's 3-node
/// cluster (every node's AMQP and management endpoint, tried in turn), unique names per test.
/// </summary>
public abstract class BackendTestBase(RabbitMqClusterFixture fixture) : IAsyncLifetime
{
    protected RabbitMqCluster Cluster => fixture.Cluster;
    protected RabbitMqBroker Broker { get; set; } = null!;
    protected IBrokerVhost Vhost { get; private set; } = null!;

    protected virtual RabbitMqOptions Options(RabbitMqOptions options) => options;

    protected RabbitMqOptions DefaultOptions(IReadOnlyList<Uri>? amqp = null) => new()
    {
        Uris = (amqp ?? Cluster.AmqpUris).Select(u => u.ToString()).ToArray(),
        ManagementUri = Cluster.ManagementUris[0].ToString(),
        ManagementUris = Cluster.ManagementUris.Skip(1).Select(u => u.ToString()).ToArray(),
        NodeName = "test-node-" + Guid.NewGuid().ToString("N")[..6],
        ConnectTimeout = TimeSpan.FromSeconds(3),
        ReconnectMaxDelay = TimeSpan.FromSeconds(1),
    };

    public virtual async Task InitializeAsync()
    {
        await Cluster.EnsureAllRunningAsync();
        Broker = new RabbitMqBroker(Options(DefaultOptions()));
        Vhost = (await Broker.GetVhostAsync("default"))!;
    }

    public virtual async Task DisposeAsync() => await Broker.DisposeAsync();

    protected static string Unique(string prefix) => $"{prefix}.{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 60)];

    protected static Message Text(string routingKey, string body, MessageProperties? properties = null, string exchange = "") =>
        new(exchange, routingKey, properties ?? MessageProperties.Empty, System.Text.Encoding.UTF8.GetBytes(body));

    protected static string BodyOf(Delivery d) => System.Text.Encoding.UTF8.GetString(d.Message.Body.Span);

    protected async Task<IBrokerQueue> QueueAsync(string name, bool durable = true, IReadOnlyDictionary<string, object?>? arguments = null)
    {
        var (queue, _) = await Vhost.DeclareQueueAsync(new QueueDefinition(name, durable, Arguments: arguments));
        return queue;
    }

    protected static async Task<Delivery> NextAsync(IBrokerSubscription s, int timeoutMs = 5000)
    {
        using var cts = new CancellationTokenSource(timeoutMs);
        return await s.Deliveries.ReadAsync(cts.Token);
    }

    protected static async Task<int> ReadyAsync(IBrokerQueue queue, int expected, int timeoutMs = 5000)
    {
        var until = Environment.TickCount64 + timeoutMs;
        int ready;
        while ((ready = (await queue.GetStatusAsync()).MessagesReady) != expected && Environment.TickCount64 < until) await Task.Delay(50);
        return ready;
    }
}
