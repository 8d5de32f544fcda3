using BenchmarkDotNet.Attributes;
using Gateway.Broker;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;

namespace Gateway.Benchmarks;

/// <summary>
/// One route = <see cref="VirtualHost.Route"/> of one message into a reused result list (cleared before each call),
/// so Allocated is what the engine allocates per route beyond the result. Each invocation routes a batch of keys
/// (or header tables) in turn, and OperationsPerInvoke makes Mean, Op/s and Allocated per route.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(BenchConfig))]
[SimpleJob(warmupCount: 3, iterationCount: 8)]
public class RoutingBenchmarks
{
    private const int Batch = 1024;

    private MessageBroker _broker = null!;
    private VirtualHost _vhost = null!;
    private readonly List<MessageQueue> _result = new(64);
    private string[] _directKeys = [];
    private string[] _topicKeys = [];
    private IReadOnlyDictionary<string, object?>[] _headers = [];

    private void NewBroker()
    {
        _broker = new MessageBroker(new BrokerOptions { LeaseScanInterval = null });
        _vhost = Topologies.NewVhost(_broker);
    }

    [GlobalSetup(Target = nameof(Direct))]
    public void SetupDirect()
    {
        NewBroker();
        _directKeys = Topologies.BuildDirect(_vhost);
        Check(nameof(Direct), Topologies.Direct, _directKeys, null);
    }

    [GlobalSetup(Target = nameof(Fanout))]
    public void SetupFanout()
    {
        NewBroker();
        Topologies.BuildFanout(_vhost);
        Check(nameof(Fanout), Topologies.Fanout, ["any"], null);
    }

    [GlobalSetup(Target = nameof(Topic10k))]
    public void SetupTopic()
    {
        NewBroker();
        _topicKeys = Topologies.BuildTopic(_vhost, out var bindTime);
        Console.WriteLine($"// Topic setup: {Topologies.TopicBindings:N0} bindings bound in {bindTime.TotalSeconds:F1} s");
        Check(nameof(Topic10k), Topologies.Topic, _topicKeys, null);
    }

    [GlobalSetup(Targets = [nameof(HeadersAll), nameof(HeadersAny)])]
    public void SetupHeaders()
    {
        NewBroker();
        _headers = Topologies.BuildHeaders(_vhost);
        Check(nameof(HeadersAll), Topologies.HeadersAll, [""], _headers);
        Check(nameof(HeadersAny), Topologies.HeadersAny, [""], _headers);
    }

    // Prints how many queues each route reaches, so the table can say what "one route" did.
    private void Check(string name, string exchange, string[] keys, IReadOnlyDictionary<string, object?>[]? headers)
    {
        var counts = new List<int>();
        var n = Math.Max(keys.Length, headers?.Length ?? 0);
        for (var i = 0; i < n; i++)
        {
            _result.Clear();
            if (!_vhost.Route(exchange, keys[i % keys.Length], headers?[i % headers.Length], _result))
                throw new InvalidOperationException($"No exchange {exchange}");
            counts.Add(_result.Count);
        }
        Console.WriteLine($"// {name}: queues per route min {counts.Min()}, mean {counts.Average():F2}, max {counts.Max()}");
        if (counts.Min() == 0 && name != nameof(Topic10k)) throw new InvalidOperationException($"{name} routes to nothing");
    }

    /// <summary>Direct exchange, 300 bindings; each key hits one queue.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int Direct()
    {
        var total = 0;
        var keys = _directKeys;
        for (var i = 0; i < Batch; i++)
        {
            _result.Clear();
            _vhost.Route(Topologies.Direct, keys[i & (keys.Length - 1)], null, _result);
            total += _result.Count;
        }
        return total;
    }

    /// <summary>Fanout exchange bound to 10 queues.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int Fanout()
    {
        var total = 0;
        for (var i = 0; i < Batch; i++)
        {
            _result.Clear();
            _vhost.Route(Topologies.Fanout, "any", null, _result);
            total += _result.Count;
        }
        return total;
    }

    /// <summary>Topic exchange, 10,000 bindings over 1,000 queues; 1,024 different keys, each matching a handful.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int Topic10k()
    {
        var total = 0;
        var keys = _topicKeys;
        for (var i = 0; i < Batch; i++)
        {
            _result.Clear();
            _vhost.Route(Topologies.Topic, keys[i], null, _result);
            total += _result.Count;
        }
        return total;
    }

    /// <summary>Headers exchange, 100 bindings with x-match=all over 3 keys; each message matches one.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int HeadersAll()
    {
        var total = 0;
        var headers = _headers;
        for (var i = 0; i < Batch; i++)
        {
            _result.Clear();
            _vhost.Route(Topologies.HeadersAll, "", headers[i & (headers.Length - 1)], _result);
            total += _result.Count;
        }
        return total;
    }

    /// <summary>Headers exchange, 100 bindings with x-match=any over 2 keys; each message matches two.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int HeadersAny()
    {
        var total = 0;
        var headers = _headers;
        for (var i = 0; i < Batch; i++)
        {
            _result.Clear();
            _vhost.Route(Topologies.HeadersAny, "", headers[i & (headers.Length - 1)], _result);
            total += _result.Count;
        }
        return total;
    }

    [GlobalCleanup]
    public void Cleanup() => _broker.Dispose();
}
