using System.Runtime.InteropServices;

namespace Gateway.Broker.Exchanges;

/// <summary>
/// Matches topic routing keys against binding patterns through a trie of words, as RabbitMQ's topic exchange.
/// Words are separated by <c>.</c>; the empty key has no words, and empty words are words (<c>a..b</c> has three).
/// <c>*</c> matches exactly one word, <c>#</c> zero or more. Immutable once built and safe for concurrent
/// matching; matching allocates nothing (word lookup goes through a span-keyed view of each node's children).
/// </summary>
public sealed class TopicTrie<T> where T : class
{
    private sealed class Node
    {
        public Dictionary<string, Node>? Children;
        public Dictionary<string, Node>.AlternateLookup<ReadOnlySpan<char>> Lookup;
        public Node? Star;
        public Node? Hash;
        public List<T>? Targets;
        public T[] Frozen = [];

        public Node Child(string word)
        {
            switch (word)
            {
                case "*": return Star ??= new Node();
                case "#": return Hash ??= new Node();
            }
            Children ??= new Dictionary<string, Node>(StringComparer.Ordinal);
            ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(Children, word, out _);
            return slot ??= new Node();
        }

        public bool IsEmpty => Frozen.Length == 0 && Star is null && Hash is null && (Children is null || Children.Count == 0);

        // A shallow copy for path copying: the children map is new, the children themselves are shared.
        public Node Clone()
        {
            var copy = new Node { Star = Star, Hash = Hash, Frozen = Frozen };
            if (Children is not null) copy.SetChildren(new Dictionary<string, Node>(Children, StringComparer.Ordinal));
            return copy;
        }

        public void SetChildren(Dictionary<string, Node>? children)
        {
            Children = children is { Count: > 0 } ? children : null;
            if (Children is not null) Lookup = Children.GetAlternateLookup<ReadOnlySpan<char>>();
        }

        public void Freeze()
        {
            Frozen = Targets?.ToArray() ?? [];
            Targets = null;
            if (Children is not null)
            {
                Lookup = Children.GetAlternateLookup<ReadOnlySpan<char>>();
                foreach (var child in Children.Values) child.Freeze();
            }
            Star?.Freeze();
            Hash?.Freeze();
        }
    }

    private readonly Node _root = new();

    private TopicTrie(Node root) => _root = root;

    /// <summary>
    /// A trie that also routes <paramref name="pattern"/> to <paramref name="target"/>. This one is unchanged: only
    /// the nodes on the pattern's path are copied, so adding a binding costs the path, not the whole trie.
    /// </summary>
    public TopicTrie<T> With(string pattern, T target) => new(Update(_root, Words(pattern), 0, target, add: true) ?? new Node());

    /// <summary>A trie without one binding of <paramref name="target"/> by <paramref name="pattern"/> (path copying, as <see cref="With"/>).</summary>
    public TopicTrie<T> Without(string pattern, T target) => new(Update(_root, Words(pattern), 0, target, add: false) ?? new Node());

    private static string[] Words(string pattern) => pattern.Length == 0 ? [] : pattern.Split('.');

    // Returns the updated copy of `node`, or null when it ends up empty (so that removals prune their path).
    private static Node? Update(Node node, string[] words, int depth, T target, bool add)
    {
        var copy = node.Clone();
        if (depth == words.Length)
        {
            if (add) copy.Frozen = [.. node.Frozen, target];
            else
            {
                var at = Array.IndexOf(node.Frozen, target);
                if (at >= 0) copy.Frozen = [.. node.Frozen.AsSpan(0, at), .. node.Frozen.AsSpan(at + 1)];
            }
            return copy.IsEmpty ? null : copy;
        }
        var word = words[depth];
        var child = word switch { "*" => node.Star, "#" => node.Hash, _ => node.Children?.GetValueOrDefault(word) };
        if (child is null && !add) return copy.IsEmpty ? null : copy;
        var updated = Update(child ?? new Node(), words, depth + 1, target, add);
        switch (word)
        {
            case "*": copy.Star = updated; break;
            case "#": copy.Hash = updated; break;
            default:
                var children = copy.Children ?? new Dictionary<string, Node>(StringComparer.Ordinal);
                if (updated is null) children.Remove(word);
                else children[word] = updated;
                copy.SetChildren(children);
                break;
        }
        return copy.IsEmpty ? null : copy;
    }

    /// <summary>Builds a trie from (pattern, target) pairs.</summary>
    public TopicTrie(IEnumerable<(string Pattern, T Target)> bindings)
    {
        foreach (var (pattern, target) in bindings)
        {
            var node = _root;
            if (pattern.Length > 0)
                foreach (var word in pattern.Split('.'))
                    node = node.Child(word);
            (node.Targets ??= []).Add(target);
        }
        _root.Freeze();
    }

    /// <summary>
    /// Adds the target of every binding whose pattern matches <paramref name="routingKey"/> to <paramref name="results"/>.
    /// A target bound by several matching patterns may be added more than once; callers de-duplicate.
    /// </summary>
    public void Match(string routingKey, List<T> results) =>
        Match(_root, routingKey, routingKey.Length == 0 ? -1 : 0, results);

    // `start` is the index of the first remaining word in `key`, or -1 when no words remain.
    private static void Match(Node node, string key, int start, List<T> results)
    {
        while (true)
        {
            if (node.Hash is not null) MatchHash(node.Hash, key, start, results);
            if (start < 0)
            {
                foreach (var target in node.Frozen) results.Add(target);
                return;
            }
            var dot = key.IndexOf('.', start);
            var word = dot < 0 ? key.AsSpan(start) : key.AsSpan(start, dot - start);
            var next = dot < 0 ? -1 : dot + 1;
            if (node.Star is not null)
            {
                if (node.Children is null) { node = node.Star; start = next; continue; }
                Match(node.Star, key, next, results);
            }
            if (node.Children is null || !node.Lookup.TryGetValue(word, out var child)) return;
            node = child;
            start = next;
        }
    }

    // A '#' node consumes zero, one, ... or all remaining words.
    private static void MatchHash(Node hash, string key, int start, List<T> results)
    {
        while (true)
        {
            Match(hash, key, start, results);
            if (start < 0) return;
            var dot = key.IndexOf('.', start);
            start = dot < 0 ? -1 : dot + 1;
        }
    }
}
