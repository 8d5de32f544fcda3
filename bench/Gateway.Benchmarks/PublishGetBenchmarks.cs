using BenchmarkDotNet.Attributes;
using Gateway.Broker;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;

namespace Gateway.Benchmarks;

/// <summary>
/// In-process message round trips on one transient (non-durable) queue bound to a direct exchange: a transient
/// 16-byte message published with <see cref="VirtualHost.Publish"/>, pulled with <see cref="MessageQueue.Take"/>
/// (a 30 s lease) and settled with <see cref="MessageQueue.Ack"/>. One operation = one message through all three.
/// </summary>
/// <remarks>
/// Every Take records a lease deadline in the broker's lease table, and an Ack does not remove it: the entry stays
/// until the deadline passes and the sweep drops it. The broker's sweep timer is off here (so it does not run on the
/// other core); instead each invocation ends as the timer would, after the leases have run out: the clock is moved
/// past the lease and <see cref="MessageBroker.ExpireLeases"/> sweeps the 1,000 stale entries. That keeps the table
/// bounded and counts its real cost, amortised per message. The <see cref="Message"/> is built once and reused:
/// building it belongs to the caller (the HTTP layer), not the engine.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(BenchConfig))]
[SimpleJob(warmupCount: 3, iterationCount: 8)]
public class PublishGetBenchmarks
{
    private const int Batch = 1000;
    private const string Exchange = "bench.publish";
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    private readonly ManualClock _clock = new();
    private MessageBroker _broker = null!;
    private VirtualHost _vhost = null!;
    private MessageQueue _queue = null!;
    private Message _message = null!;
    private readonly DeliveryTag[] _one = new DeliveryTag[1];
    private readonly DeliveryTag[] _tags = new DeliveryTag[Batch];

    [GlobalSetup]
    public void Setup()
    {
        _broker = new MessageBroker(new BrokerOptions { LeaseScanInterval = null, TimeProvider = _clock });
        _vhost = _broker.GetVhost(MessageBroker.DefaultVhost)!;
        _vhost.DeclareExchange(new ExchangeDefinition(Exchange, ExchangeType.Direct, Durable: false));
        _queue = _vhost.DeclareQueue(new QueueDefinition("bench.q", Durable: false)).Queue;
        _vhost.Bind(new Binding(Exchange, "bench.q", BindingDestinationType.Queue, "k", null));
        _message = new Message(Exchange, "k", MessageProperties.Empty, new byte[16]);
        if (_vhost.Publish(Exchange, _message).Queues != 1) throw new InvalidOperationException("not routed");
        _queue.Purge();
    }

    /// <summary>Publish one, take one, ack one; 1,000 times per invocation.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int PublishTakeAck()
    {
        var n = 0;
        for (var i = 0; i < Batch; i++)
        {
            _vhost.Publish(Exchange, _message);
            var got = _queue.Take(1, Lease);
            _one[0] = got[0].Tag;
            _queue.Ack(_one);
            n += got.Count;
        }
        SweepLeases();
        return n;
    }

    /// <summary>Publish 1,000, take the 1,000 in one Take, ack them in one Ack.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int PublishBatchTakeAckBatch()
    {
        for (var i = 0; i < Batch; i++) _vhost.Publish(Exchange, _message);
        var got = _queue.Take(Batch, Lease);
        for (var i = 0; i < got.Count; i++) _tags[i] = got[i].Tag;
        _queue.Ack(_tags);
        SweepLeases();
        return got.Count;
    }

    /// <summary>Publish only (route + enqueue); the 1,000 messages are purged at the end of each invocation.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int PublishOnly()
    {
        var n = 0;
        for (var i = 0; i < Batch; i++) n += _vhost.Publish(Exchange, _message).Queues;
        _queue.Purge();
        return n;
    }

    private void SweepLeases()
    {
        _clock.Advance(Lease + TimeSpan.FromSeconds(1));
        _broker.ExpireLeases();
    }

    [GlobalCleanup]
    public void Cleanup() => _broker.Dispose();
}
