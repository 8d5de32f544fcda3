using BenchmarkDotNet.Attributes;
using Gateway.Benchmarks.Prototypes;
using Gateway.Broker;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;

namespace Gateway.Benchmarks;

/// <summary>
/// Where the time of <see cref="RoutingBenchmarks.Topic10k"/> goes, on the same 10,000 bindings and 1,024 keys.
/// The topology is assembled through the engine's internals (one router build instead of 10,000 Bind calls, which
/// take ~45 s because each Bind rebuilds the whole trie), so these start in a second.
/// <list type="bullet">
/// <item><c>EngineTrieMatch</c>: <see cref="TopicTrie{T}"/> alone (bindings matched, duplicates kept).</item>
/// <item><c>EngineSnapshotRoute</c>: the engine's whole route, TopologySnapshot.Route (trie + per-target
/// IsDeleted check + HashSet de-duplication + scratch bookkeeping); VirtualHost.Route adds one dictionary lookup.</item>
/// <item><c>EngineSnapshotRouteSameKey</c>: the same, one key 1,024 times: caches warm, so the difference from
/// the previous line is memory latency.</item>
/// <item><c>PrototypeTrieMatch</c>, <c>PrototypeRoute</c>: the changes proposed in bench/README.md (interned words,
/// flat edge table, AddRange(span); queues as targets, linear de-duplication of small results, no IsDeleted read).
/// Prototype code lives in bench/Gateway.Benchmarks/Prototypes, not in the engine.</item>
/// </list>
/// </summary>
[MemoryDiagnoser]
[Config(typeof(BenchConfig))]
[SimpleJob(warmupCount: 3, iterationCount: 8)]
public class TopicBreakdownBenchmarks
{
    private const int Batch = 1024;
    private MessageBroker _broker = null!;
    private string[] _keys = [];
    private string[] _sameKey = [];
    private TopicTrie<RouteTarget> _trie = null!;
    private TopologySnapshot _snapshot = null!;
    private ExchangeNode _node = null!;
    private InternedTopicTrie<RouteTarget> _prototypeTrie = null!;
    private InternedTopicTrie<MessageQueue> _prototypeQueues = null!;
    private readonly List<RouteTarget> _targets = new(64);
    private readonly List<MessageQueue> _result = new(64);
    private readonly List<MessageQueue> _matches = new(64);
    private readonly HashSet<MessageQueue> _seen = new(ReferenceEqualityComparer.Instance);

    [GlobalSetup]
    public void Setup()
    {
        _broker = new MessageBroker(new BrokerOptions { LeaseScanInterval = null });
        var vhost = _broker.GetVhost(MessageBroker.DefaultVhost)!;
        var queues = new Dictionary<string, MessageQueue>(StringComparer.Ordinal);
        for (var i = 0; i < Topologies.TopicQueues; i++) queues[$"t{i}"] = Topologies.Queue(vhost, $"t{i}");
        var patterns = Topologies.TopicPatterns();
        _keys = Topologies.TopicKeys(patterns);
        _sameKey = Enumerable.Repeat(_keys[0], Batch).ToArray();

        var bindings = patterns
            .Select(p => (new Binding(Topologies.Topic, p.Queue, BindingDestinationType.Queue, p.Pattern, null), queues[p.Queue].Target))
            .ToList();
        _node = new ExchangeNode(new ExchangeDefinition(Topologies.Topic, ExchangeType.Topic, Durable: false),
            ExchangeRouter.Create(ExchangeType.Topic, bindings), new Gateway.Broker.Statistics.ExchangeStatistics());
        _snapshot = new TopologySnapshot(new Dictionary<string, ExchangeNode>(StringComparer.Ordinal) { [Topologies.Topic] = _node }, queues);
        _trie = new TopicTrie<RouteTarget>(bindings.Select(b => (b.Item1.RoutingKey, b.Item2)));
        _prototypeTrie = new InternedTopicTrie<RouteTarget>(bindings.Select(b => (b.Item1.RoutingKey, b.Item2)));
        _prototypeQueues = new InternedTopicTrie<MessageQueue>(patterns.Select(p => (p.Pattern, queues[p.Queue])));

        // The prototype must route exactly as the engine does.
        foreach (var key in _keys)
        {
            _result.Clear();
            _snapshot.Route(_node, key, null, _result);
            var engine = _result.ToHashSet(ReferenceEqualityComparer.Instance);
            PrototypeRouteOne(key);
            if (!engine.SetEquals(_result) || engine.Count != _result.Count)
                throw new InvalidOperationException($"prototype disagrees with the engine on '{key}'");
        }
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int EngineTrieMatch()
    {
        var n = 0;
        foreach (var key in _keys)
        {
            _targets.Clear();
            _trie.Match(key, _targets);
            n += _targets.Count;
        }
        return n;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int EngineSnapshotRoute()
    {
        var n = 0;
        foreach (var key in _keys)
        {
            _result.Clear();
            _snapshot.Route(_node, key, null, _result);
            n += _result.Count;
        }
        return n;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int EngineSnapshotRouteSameKey()
    {
        var n = 0;
        foreach (var key in _sameKey)
        {
            _result.Clear();
            _snapshot.Route(_node, key, null, _result);
            n += _result.Count;
        }
        return n;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int PrototypeTrieMatch()
    {
        var n = 0;
        foreach (var key in _keys)
        {
            _targets.Clear();
            _prototypeTrie.Match(key, _targets);
            n += _targets.Count;
        }
        return n;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int PrototypeRoute()
    {
        var n = 0;
        foreach (var key in _keys) n += PrototypeRouteOne(key);
        return n;
    }

    // A single-exchange route as proposed: the trie yields queues directly; small results are de-duplicated by a
    // linear scan of the result (no hashing, no read of the queue object), large ones through a HashSet; the
    // deleted check is left to Enqueue, which makes it anyway under the queue's lock.
    private int PrototypeRouteOne(string key)
    {
        _result.Clear();
        _matches.Clear();
        _prototypeQueues.Match(key, _matches);
        if (_matches.Count <= 16)
        {
            foreach (var queue in _matches)
                if (!ContainsReference(_result, queue)) _result.Add(queue);
        }
        else
        {
            foreach (var queue in _matches)
                if (_seen.Add(queue)) _result.Add(queue);
            _seen.Clear();
        }
        return _result.Count;
    }

    private static bool ContainsReference(List<MessageQueue> list, MessageQueue queue)
    {
        foreach (var q in list)
            if (ReferenceEquals(q, queue)) return true;
        return false;
    }

    [GlobalCleanup]
    public void Cleanup() => _broker.Dispose();
}
