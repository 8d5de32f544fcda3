using Gateway.Testing;

namespace Gateway.Server.Tests;

/// <summary>
/// The same server on the RabbitMQ backend (<c>Gateway:Backend=RabbitMq</c>) over one 3-node RabbitMQ cluster shared by
/// every test class of this assembly (started on first use, ~10 s, and killed when the test process ends). Suites that
/// hold for both backends are written once as <c>XTests&lt;TFactory&gt;</c> and run as <c>XTests</c> (embedded,
/// <see cref="GatewayFactory"/>) and <c>XTestsOnRabbitMq</c> (this factory).
/// </summary>
public class RabbitMqGateway : GatewayFactory
{
    public RabbitMqGateway()
    {
        var cluster = SharedRabbitMq.Cluster;
        Settings["Gateway:Backend"] = "RabbitMq";
        for (var i = 0; i < cluster.AmqpUris.Count; i++) Settings[$"Gateway:RabbitMq:Uris:{i}"] = cluster.AmqpUris[i].ToString();
        Settings["Gateway:RabbitMq:ManagementUri"] = cluster.ManagementUris[0].ToString();
        Settings["Gateway:RabbitMq:NodeName"] = "test-" + Guid.NewGuid().ToString("N")[..8];
    }

    /// <summary>The cluster under this gateway.</summary>
    public RabbitMqCluster Cluster => SharedRabbitMq.Cluster;
}

/// <summary>The assembly's one RabbitMQ cluster.</summary>
internal static class SharedRabbitMq
{
    private static readonly Lazy<RabbitMqCluster> Started = new(() => RabbitMqCluster.StartAsync(3).GetAwaiter().GetResult(),
        LazyThreadSafetyMode.ExecutionAndPublication);

    public static RabbitMqCluster Cluster => Started.Value;
}

/// <summary>The RabbitMQ-backed fixture really serves from the cluster (not silently from the embedded engine).</summary>
public sealed class RabbitMqGatewayTests(RabbitMqGateway factory) : IClassFixture<RabbitMqGateway>
{
    [Fact]
    public async Task A_vhost_and_queue_declared_over_HTTP_exist_in_the_RabbitMQ_cluster()
    {
        Assert.IsType<Gateway.RabbitMq.RabbitMqBroker>(factory.Service<Gateway.Broker.IBroker>());
        var client = factory.CreateClient();
        var vhost = await client.CreateVhostAsync();
        await client.DeclareQueueAsync(vhost, "q");

        using var management = new HttpClient { BaseAddress = factory.Cluster.ManagementUris[1] };
        management.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String("guest:guest"u8.ToArray()));
        using var queue = System.Text.Json.JsonDocument.Parse(await management.GetStringAsync($"api/queues/{Uri.EscapeDataString(vhost)}/q"));
        Assert.Equal("quorum", queue.RootElement.GetProperty("type").GetString()); // durable queues are quorum queues by default
        Assert.Equal(3, queue.RootElement.GetProperty("members").GetArrayLength());
    }

    [Fact]
    public async Task The_default_vhost_is_RabbitMQs_slash()
    {
        var client = factory.CreateClient();
        var name = "q-" + Guid.NewGuid().ToString("N");
        await client.DeclareQueueAsync("default", name, new { durable = false });
        using var management = new HttpClient { BaseAddress = factory.Cluster.ManagementUris[0] };
        management.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String("guest:guest"u8.ToArray()));
        var answer = await management.GetAsync($"api/queues/%2F/{name}");
        Assert.Equal(System.Net.HttpStatusCode.OK, answer.StatusCode);
        await client.DeleteAsync(Urls.Queue("default", name));
    }
}
