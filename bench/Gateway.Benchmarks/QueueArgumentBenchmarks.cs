using BenchmarkDotNet.Attributes;
using Gateway.Broker;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;

namespace Gateway.Benchmarks;

/// <summary>The queue a <see cref="QueueArgumentBenchmarks"/> run measures.</summary>
public enum QueueKind
{
    /// <summary>No arguments: the FIFO baseline.</summary>
    Plain,
    /// <summary><c>x-message-ttl</c> 60 s: every message gets a deadline and an entry in the queue's expiry heap.</summary>
    MessageTtl,
    /// <summary><c>x-max-priority</c> 10, messages with priorities 0 to 9 in turn.</summary>
    MaxPriority10,
    /// <summary><c>x-max-length</c> 1,000 with <c>x-overflow</c> drop-head: every publish past 1,000 drops the oldest message.</summary>
    MaxLength1000,
}

/// <summary>
/// Publish-and-consume throughput of queues with RabbitMQ's arguments (issue 5) beside a plain queue, in process, in the
/// same run: transient 16-byte messages published with <see cref="VirtualHost.Publish"/> to a direct exchange bound to
/// one non-durable queue, then drained with <see cref="MessageQueue.Take"/> (1,000 at a time, 30 s leases) and
/// <see cref="MessageQueue.Ack"/>. One operation = one message published, and consumed (or, for
/// <see cref="QueueKind.MaxLength1000"/>, dropped by overflow).
/// </summary>
/// <remarks>
/// Each invocation publishes 2,000 messages into an empty queue, so the queue holds 2,000 before the drain (the expiry
/// heap and the priority levels are exercised at that depth); the x-max-length queue stops at 1,000: its last 1,000
/// publishes each drop the oldest message, and the drain then takes 1,000. As in <see cref="PublishGetBenchmarks"/>,
/// the broker's timers are off and each invocation ends as they would: the clock moves past the leases and they are
/// swept (<see cref="MessageBroker.ExpireLeases"/>), and the due queue wake-ups run (<see cref="MessageBroker.RunDueTimers"/>),
/// which for the TTL queue removes the expiry-heap entries of messages consumed two invocations earlier (the TTL is
/// 60 s, the clock moves 31 s per invocation, so nothing expires unconsumed). The messages are built once and reused.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(BenchConfig))]
[SimpleJob(warmupCount: 3, iterationCount: 8)]
public class QueueArgumentBenchmarks
{
    private const int Published = 2000;
    private const int TakeMost = 1000;
    private const string Exchange = "bench.args";
    private const string Queue = "bench.args.q";
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    private readonly ManualClock _clock = new();
    private readonly DeliveryTag[] _tags = new DeliveryTag[TakeMost];
    private MessageBroker _broker = null!;
    private VirtualHost _vhost = null!;
    private MessageQueue _queue = null!;
    private Message[] _messages = null!;

    [Params(QueueKind.Plain, QueueKind.MessageTtl, QueueKind.MaxPriority10, QueueKind.MaxLength1000)]
    public QueueKind Kind { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _broker = new MessageBroker(new BrokerOptions { LeaseScanInterval = null, AutomaticTimers = false, TimeProvider = _clock });
        _vhost = _broker.GetVhost(MessageBroker.DefaultVhost)!;
        _vhost.DeclareExchange(new ExchangeDefinition(Exchange, ExchangeType.Direct, Durable: false));
        Dictionary<string, object?>? arguments = Kind switch
        {
            QueueKind.MessageTtl => new() { ["x-message-ttl"] = 60_000L },
            QueueKind.MaxPriority10 => new() { ["x-max-priority"] = 10L },
            QueueKind.MaxLength1000 => new() { ["x-max-length"] = 1000L, ["x-overflow"] = "drop-head" },
            _ => null,
        };
        _queue = _vhost.DeclareQueue(new QueueDefinition(Queue, Durable: false, Arguments: arguments)).Queue;
        _vhost.Bind(new Binding(Exchange, Queue, BindingDestinationType.Queue, "k", null));
        // Ten messages with priorities 0 to 9, published in turn (the priority is ignored by the other queues).
        _messages = Enumerable.Range(0, 10)
            .Select(p => new Message(Exchange, "k", new MessageProperties { Priority = (byte)p }, new byte[16]))
            .ToArray();
        var expected = Kind == QueueKind.MaxLength1000 ? 1000 : Published;
        if (PublishThenDrain() != expected) throw new InvalidOperationException($"{Kind}: the drain did not take {expected} messages.");
    }

    /// <summary>Publishes 2,000 messages, then takes and acks everything the queue holds.</summary>
    [Benchmark(OperationsPerInvoke = Published)]
    public int PublishThenDrain()
    {
        for (var i = 0; i < Published; i++) _vhost.Publish(Exchange, _messages[i % 10]);
        var consumed = 0;
        while (true)
        {
            var got = _queue.Take(TakeMost, Lease);
            if (got.Count == 0) break;
            for (var i = 0; i < got.Count; i++) _tags[i] = got[i].Tag;
            _queue.Ack(got.Count == TakeMost ? _tags : new ArraySegment<DeliveryTag>(_tags, 0, got.Count));
            consumed += got.Count;
        }
        _clock.Advance(Lease + TimeSpan.FromSeconds(1));
        _broker.ExpireLeases();
        _broker.RunDueTimers();
        return consumed;
    }

    [GlobalCleanup]
    public void Cleanup() => _broker.Dispose();
}
