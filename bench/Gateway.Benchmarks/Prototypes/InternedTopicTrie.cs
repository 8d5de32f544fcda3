namespace Gateway.Benchmarks.Prototypes;

/// <summary>
/// NOT ENGINE CODE: a prototype of a faster topic matcher, kept here only so that the figures in bench/README.md
/// can be reproduced. Same matching rules as <c>Gateway.Broker.Exchanges.TopicTrie</c> (checked against it on the
/// benchmark keys in <see cref="TopicBreakdownBenchmarks"/>), different layout:
/// <list type="bullet">
/// <item>every literal word of every pattern is interned once to an int id; a routing key is split once and each of
/// its words hashed once (instead of once per trie branch that reaches it, and an IndexOf per branch);</item>
/// <item>children live in one flat open-addressing table keyed by (node, word id), not one Dictionary per node, so
/// following an edge is one probe of an array of structs instead of Node → Dictionary → buckets → entries → key
/// string → child Node;</item>
/// <item>node data (star child, hash child, target range, has-children flag) is one struct in one array, and all
/// targets one array, so a node visit touches one cache line and no per-node objects;</item>
/// <item>targets are appended with <c>List.AddRange(ReadOnlySpan)</c> (a copy) instead of
/// <c>AddRange(IEnumerable)</c> on an array (an interface cast and two interface calls through SZArrayHelper).</item>
/// </list>
/// </summary>
public sealed class InternedTopicTrie<T> where T : class
{
    private struct Edge
    {
        public ulong Key;
        public int Child; // 0 = empty slot (the root is never a child)
    }

    // One struct per node, so visiting a node is one cache line; targets of all nodes in one array.
    private struct NodeInfo
    {
        public int Star;        // -1: none
        public int Hash;        // -1: none
        public int TargetStart;
        public int TargetCount;
        public bool HasChildren;
    }

    private readonly NodeInfo[] _nodes;
    private readonly T[] _targets;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _words;
    private readonly Edge[] _edges;
    private readonly int _mask;
    private readonly int _shift;

    public InternedTopicTrie(IEnumerable<(string Pattern, T Target)> bindings)
    {
        var words = new Dictionary<string, int>(StringComparer.Ordinal);
        var star = new List<int> { -1 };
        var hash = new List<int> { -1 };
        var targets = new List<List<T>?> { null };
        var edges = new Dictionary<(int, int), int>();
        int NewNode()
        {
            star.Add(-1);
            hash.Add(-1);
            targets.Add(null);
            return star.Count - 1;
        }
        foreach (var (pattern, target) in bindings)
        {
            var node = 0;
            if (pattern.Length > 0)
                foreach (var word in pattern.Split('.'))
                {
                    if (word == "*") node = star[node] >= 0 ? star[node] : star[node] = NewNode();
                    else if (word == "#") node = hash[node] >= 0 ? hash[node] : hash[node] = NewNode();
                    else
                    {
                        if (!words.TryGetValue(word, out var id)) words[word] = id = words.Count;
                        if (!edges.TryGetValue((node, id), out var child)) edges[(node, id)] = child = NewNode();
                        node = child;
                    }
                }
            (targets[node] ??= []).Add(target);
        }
        _nodes = new NodeInfo[star.Count];
        var flat = new List<T>();
        for (var i = 0; i < _nodes.Length; i++)
        {
            _nodes[i] = new NodeInfo { Star = star[i], Hash = hash[i], TargetStart = flat.Count, TargetCount = targets[i]?.Count ?? 0 };
            if (targets[i] is { } list) flat.AddRange(list);
        }
        foreach (var (n, _) in edges.Keys) _nodes[n].HasChildren = true;
        _targets = [.. flat];
        _words = words.GetAlternateLookup<ReadOnlySpan<char>>();
        var size = 16;
        var bits = 4;
        while (size < edges.Count * 2) { size *= 2; bits++; }
        _edges = new Edge[size];
        _mask = size - 1;
        _shift = 64 - bits;
        foreach (var ((n, w), c) in edges)
        {
            var key = Pack(n, w);
            var i = Slot(key);
            while (_edges[i].Child != 0) i = (i + 1) & _mask;
            _edges[i] = new Edge { Key = key, Child = c };
        }
    }

    private static ulong Pack(int node, int word) => ((ulong)(uint)node << 32) | (uint)word;

    private int Slot(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);

    private int Child(int node, int word)
    {
        var key = Pack(node, word);
        var i = Slot(key);
        while (true)
        {
            ref var e = ref _edges[i];
            if (e.Child == 0) return -1;
            if (e.Key == key) return e.Child;
            i = (i + 1) & _mask;
        }
    }

    /// <summary>Adds the target of every matching binding (duplicates possible, as TopicTrie).</summary>
    public void Match(string routingKey, List<T> results)
    {
        if (routingKey.Length == 0)
        {
            Match(0, [], 0, results);
            return;
        }
        var n = routingKey.AsSpan().Count('.') + 1;
        Span<int> ids = n <= 64 ? stackalloc int[64] : new int[n];
        ids = ids[..n];
        var start = 0;
        for (var i = 0; i < n; i++)
        {
            var dot = routingKey.IndexOf('.', start);
            var word = dot < 0 ? routingKey.AsSpan(start) : routingKey.AsSpan(start, dot - start);
            ids[i] = _words.TryGetValue(word, out var id) ? id : -1; // -1: no pattern has it; only * and # match it
            start = dot + 1;
        }
        Match(0, ids, 0, results);
    }

    private void Match(int node, ReadOnlySpan<int> ids, int pos, List<T> results)
    {
        while (true)
        {
            ref readonly var info = ref _nodes[node];
            if (info.Hash >= 0)
                for (var p = pos; p <= ids.Length; p++) Match(info.Hash, ids, p, results);
            if (pos == ids.Length)
            {
                if (info.TargetCount > 0) results.AddRange(_targets.AsSpan(info.TargetStart, info.TargetCount));
                return;
            }
            var id = ids[pos];
            var child = id >= 0 && info.HasChildren ? Child(node, id) : -1;
            var star = info.Star;
            if (star >= 0)
            {
                if (child < 0) { node = star; pos++; continue; }
                Match(star, ids, pos + 1, results);
            }
            if (child < 0) return;
            node = child;
            pos++;
        }
    }
}
