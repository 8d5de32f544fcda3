using System.Buffers.Binary;
using System.Diagnostics;
using Gateway.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Xunit.Abstractions;

namespace Gateway.RabbitMq.Tests;

/// <summary>
/// The test cluster itself (tests/Shared/RabbitMqCluster.cs): that it is a real 3-node cluster, that quorum queues
/// replicate over it, and that its kill -9 and restart behave as the failover tests need
/// (../shared/anchors/rabbitmq-cluster §3).
/// </summary>
[Collection(RabbitMqClusterFixture.Collection)]
public sealed class RabbitMqClusterTests(RabbitMqClusterFixture fixture, ITestOutputHelper output)
{
    private RabbitMqCluster Cluster => fixture.Cluster;

    private static string UniqueQueue(string prefix) => $"{prefix}.{Guid.NewGuid():N}";

    private static Task<IConnection> ConnectAsync(Uri uri) =>
        new ConnectionFactory { Uri = uri, AutomaticRecoveryEnabled = false, ClientProvidedName = "cluster-tests" }.CreateConnectionAsync();

    private static async Task DeclareQuorumQueueAsync(Uri node, string queue)
    {
        await using var connection = await ConnectAsync(node);
        await using var channel = await connection.CreateChannelAsync();
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
    }

    private static byte[] Body(int sequence)
    {
        var body = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(body, sequence);
        return body;
    }

    /// <summary>
    /// Publishes persistent messages <paramref name="from"/>..<paramref name="to"/>-1 with confirms, one at a time.
    /// A nack (a quorum queue during a leader change) drops the channel and re-publishes on a fresh one: RabbitMQ 3.10
    /// keeps nacking on the old channel until the old leader comes back.
    /// </summary>
    private static async Task PublishConfirmedAsync(IConnection connection, string queue, int from, int to, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        var options = new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);
        var channel = await connection.CreateChannelAsync(options);
        try
        {
            for (var sequence = from; sequence < to;)
            {
                try
                {
                    await channel.BasicPublishAsync("", queue, mandatory: true,
                        new BasicProperties { Persistent = true, MessageId = sequence.ToString() }, Body(sequence));
                    sequence++;
                }
                catch (PublishException) when (clock.Elapsed < within)
                {
                    await channel.DisposeAsync();
                    channel = await connection.CreateChannelAsync(options);
                }
            }
        }
        finally
        {
            await channel.DisposeAsync();
        }
    }

    private static async Task<HashSet<long>> DrainAsync(IConnection connection, string queue)
    {
        await using var channel = await connection.CreateChannelAsync();
        var seen = new HashSet<long>();
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } message)
            seen.Add(BinaryPrimitives.ReadInt64BigEndian(message.Body.Span));
        return seen;
    }

    [Fact]
    public async Task The_nodes_form_one_cluster_in_which_every_node_runs()
    {
        output.WriteLine($"cluster started in {fixture.StartTime.TotalSeconds:F1} s");
        await Cluster.EnsureAllRunningAsync();

        for (var i = 0; i < Cluster.Count; i++)
        {
            var nodes = await Cluster.GetNodesAsync(from: i);
            Assert.Equal(Cluster.NodeNames.Order(), nodes.Select(n => n.Name).Order());
            Assert.All(nodes, n => Assert.True(n.Running, $"{n.Name} is not running as node {i} sees it"));
        }
        Assert.Equal(3, Cluster.AmqpUris.Select(u => u.Port).Concat(Cluster.ManagementUris.Select(u => u.Port)).Distinct().Count() / 2);
        Assert.DoesNotContain(Cluster.AmqpUris, u => u.Port == 5672);
        Assert.DoesNotContain(Cluster.ManagementUris, u => u.Port == 15672);
    }

    [Fact]
    public async Task A_quorum_queue_has_a_member_on_every_node_and_a_leader()
    {
        await Cluster.EnsureAllRunningAsync();
        var queue = UniqueQueue("members");

        await DeclareQuorumQueueAsync(Cluster.AmqpUris[1], queue);
        var replicas = await Cluster.WaitForQueueLeaderAsync("/", queue, r => r.Online.Count == 3);

        Assert.Equal(Cluster.NodeNames.Order(), replicas.Members.Order());
        Assert.Equal(Cluster.NodeNames.Order(), replicas.Online.Order());
        Assert.Contains(replicas.Leader, Cluster.NodeNames);
    }

    [Fact]
    public async Task Killing_the_leaders_node_elects_a_new_leader_confirms_go_on_on_a_survivor_and_the_node_rejoins()
    {
        await Cluster.EnsureAllRunningAsync();
        var queue = UniqueQueue("failover");
        await DeclareQuorumQueueAsync(Cluster.AmqpUris[0], queue);
        var before = await Cluster.WaitForQueueLeaderAsync("/", queue, r => r.Online.Count == 3);
        var leader = Cluster.IndexOf(before.Leader!);
        var survivor = (leader + 1) % Cluster.Count;
        await using var connection = await ConnectAsync(Cluster.AmqpUris[survivor]);
        await PublishConfirmedAsync(connection, queue, 0, 100, within: TimeSpan.FromSeconds(30));

        var clock = Stopwatch.StartNew();
        await Cluster.KillAsync(leader);
        Assert.False(Cluster.IsRunning(leader));
        var after = await Cluster.WaitForQueueLeaderAsync("/", queue, r => r.Leader != before.Leader);
        output.WriteLine($"new leader {after.Leader} visible {clock.Elapsed.TotalSeconds:F2} s after the kill of {before.Leader}");
        await PublishConfirmedAsync(connection, queue, 100, 200, within: TimeSpan.FromSeconds(30));
        output.WriteLine($"100 more confirmed {clock.Elapsed.TotalSeconds:F2} s after the kill");

        Assert.NotEqual(before.Leader, after.Leader);
        Assert.DoesNotContain(before.Leader, after.Online);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => (long)i), (await DrainAsync(connection, queue)).Order());

        clock.Restart();
        await Cluster.StartNodeAsync(leader);
        output.WriteLine($"{before.Leader} back in the cluster after {clock.Elapsed.TotalSeconds:F1} s");
        var rejoined = await Cluster.WaitForQueueLeaderAsync("/", queue, r => r.Online.Contains(before.Leader!));
        output.WriteLine($"{before.Leader} online in the queue after {clock.Elapsed.TotalSeconds:F1} s");

        Assert.True(Cluster.IsRunning(leader));
        Assert.All(await Cluster.GetNodesAsync(from: survivor), n => Assert.True(n.Running, $"{n.Name} is not running"));
        Assert.Equal(3, rejoined.Online.Count);
    }

    [Fact]
    public async Task Killing_a_node_that_is_not_running_is_refused()
    {
        await Cluster.EnsureAllRunningAsync();
        var last = Cluster.Count - 1;
        await Cluster.KillAsync(last);
        try
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => Cluster.KillAsync(last));
        }
        finally
        {
            await Cluster.StartNodeAsync(last);
        }
    }
}
