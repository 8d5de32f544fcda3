using CsCheck;
using Gateway.Broker.Exchanges;

namespace Gateway.Broker.Tests;

/// <summary>
/// <see cref="TopicTrie{T}"/> against a plain recursive reference matcher, over patterns and keys built from a tiny
/// alphabet so that empty words, leading and trailing dots, the empty key and every wildcard combination come up.
/// </summary>
public class TopicTriePropertyTests
{
    private const int Iterations = 20_000;

    private sealed class Target(int id)
    {
        public int Id { get; } = id;
        public override string ToString() => $"t{Id}";
    }

    // ---------------------------------------------------------------- the reference

    /// <summary>The words of a key or pattern: the empty string has none; anything else splits on every '.'.</summary>
    internal static string[] Words(string s) => s.Length == 0 ? [] : s.Split('.');

    /// <summary>Recursive matching: '*' is exactly one word, '#' zero or more, anything else itself.</summary>
    internal static bool ReferenceMatch(string pattern, string key) => ReferenceMatch(Words(pattern), Words(key));

    private static bool ReferenceMatch(ReadOnlySpan<string> pattern, ReadOnlySpan<string> key)
    {
        if (pattern.Length == 0) return key.Length == 0;
        if (pattern[0] == "#")
        {
            for (var skip = 0; skip <= key.Length; skip++)
                if (ReferenceMatch(pattern[1..], key[skip..])) return true;
            return false;
        }
        if (key.Length == 0) return false;
        return (pattern[0] == "*" || pattern[0] == key[0]) && ReferenceMatch(pattern[1..], key[1..]);
    }

    [Theory]
    [InlineData("", 0)]
    [InlineData("a", 1)]
    [InlineData(".", 2)]
    [InlineData("a.", 2)]
    [InlineData(".a", 2)]
    [InlineData("a..b", 3)]
    public void Reference_splits_words_as_specified(string text, int words) => Assert.Equal(words, Words(text).Length);

    // ---------------------------------------------------------------- generators

    private static Gen<string> Dotted(params string[] alphabet) =>
        Gen.OneOf(alphabet).Array[0, 5].Select(words => string.Join('.', words));

    private static readonly Gen<string> Pattern = Dotted("", "a", "b", "*", "#");
    private static readonly Gen<string> Key = Dotted("", "a", "b", "c");

    private static HashSet<Target> TrieMatch(TopicTrie<Target> trie, string key)
    {
        var results = new List<Target>();
        trie.Match(key, results);
        return results.ToHashSet();
    }

    // ---------------------------------------------------------------- properties

    [Fact]
    public void One_binding_matches_exactly_when_the_reference_says_so()
    {
        Gen.Select(Pattern, Key).Sample((pattern, key) =>
        {
            var target = new Target(0);
            var matched = TrieMatch(new TopicTrie<Target>([(pattern, target)]), key);
            var expected = ReferenceMatch(pattern, key);
            if (expected != matched.Contains(target) || matched.Count > 1)
                throw new Exception($"pattern '{pattern}' key '{key}': reference {expected}, trie [{string.Join(", ", matched)}]");
        }, iter: Iterations);
    }

    [Fact]
    public void Many_bindings_match_the_set_of_targets_the_reference_selects()
    {
        Gen.Select(Pattern.Array[0, 12], Key).Sample((patterns, key) =>
        {
            var targets = patterns.Select((_, i) => new Target(i)).ToArray();
            var trie = new TopicTrie<Target>(patterns.Select((p, i) => (p, targets[i])));
            var expected = targets.Where(t => ReferenceMatch(patterns[t.Id], key)).ToHashSet();
            var actual = TrieMatch(trie, key);
            if (!expected.SetEquals(actual))
                throw new Exception(
                    $"key '{key}', patterns [{string.Join(", ", patterns.Select((p, i) => $"t{i}='{p}'"))}]: " +
                    $"expected [{string.Join(", ", expected.OrderBy(t => t.Id))}], got [{string.Join(", ", actual.OrderBy(t => t.Id))}]");
        }, iter: Iterations);
    }

    [Fact]
    public void Many_bindings_sharing_few_targets_match_the_union_the_reference_selects()
    {
        // Several patterns per target: the trie may report a target more than once, but the set must be right.
        var gen = Gen.Select(Gen.Select(Pattern, Gen.Int[0, 3]).Array[0, 12], Key);
        gen.Sample((bindings, key) =>
        {
            var targets = Enumerable.Range(0, 4).Select(i => new Target(i)).ToArray();
            var trie = new TopicTrie<Target>(bindings.Select(b => (b.Item1, targets[b.Item2])));
            var expected = bindings.Where(b => ReferenceMatch(b.Item1, key)).Select(b => targets[b.Item2]).ToHashSet();
            var actual = TrieMatch(trie, key);
            if (!expected.SetEquals(actual))
                throw new Exception(
                    $"key '{key}', bindings [{string.Join(", ", bindings.Select(b => $"'{b.Item1}'->t{b.Item2}"))}]: " +
                    $"expected [{string.Join(", ", expected.OrderBy(t => t.Id))}], got [{string.Join(", ", actual.OrderBy(t => t.Id))}]");
        }, iter: Iterations);
    }

    [Fact]
    public void A_trie_changed_binding_by_binding_matches_as_one_built_from_the_remaining_bindings()
    {
        // Add every binding with With, then take a random subset away with Without: the result must match exactly
        // like a trie built from the bindings that remain (multiset semantics: one Without removes one binding).
        var gen = Gen.Select(Gen.Select(Pattern, Gen.Int[0, 3]).Array[0, 12], Gen.Bool.Array[12], Key);
        gen.Sample((bindings, removed, key) =>
        {
            var targets = Enumerable.Range(0, 4).Select(i => new Target(i)).ToArray();
            var trie = new TopicTrie<Target>([]);
            foreach (var (pattern, t) in bindings) trie = trie.With(pattern, targets[t]);
            var remaining = new List<(string, Target)>();
            for (var i = 0; i < bindings.Length; i++)
            {
                if (removed[i]) trie = trie.Without(bindings[i].Item1, targets[bindings[i].Item2]);
                else remaining.Add((bindings[i].Item1, targets[bindings[i].Item2]));
            }
            var expected = new List<Target>();
            new TopicTrie<Target>(remaining).Match(key, expected);
            var actual = new List<Target>();
            trie.Match(key, actual);
            if (!expected.OrderBy(t => t.Id).SequenceEqual(actual.OrderBy(t => t.Id)))
                throw new Exception($"key '{key}', bindings [{string.Join(", ", bindings.Select((b, i) => $"'{b.Item1}'->t{b.Item2}{(removed[i] ? " (removed)" : "")}"))}]: " +
                                    $"expected [{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
        }, iter: Iterations);
    }

    [Fact]
    public void Keys_containing_literal_wildcard_words_match_as_the_reference_says()
    {
        Gen.Select(Pattern, Dotted("", "a", "*", "#")).Sample((pattern, key) =>
        {
            var target = new Target(0);
            var matched = TrieMatch(new TopicTrie<Target>([(pattern, target)]), key);
            if (ReferenceMatch(pattern, key) != matched.Contains(target))
                throw new Exception($"pattern '{pattern}' key '{key}': reference {ReferenceMatch(pattern, key)}, trie {matched.Contains(target)}");
        }, iter: Iterations);
    }
}
