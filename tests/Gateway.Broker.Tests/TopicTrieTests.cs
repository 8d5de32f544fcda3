using Gateway.Broker.Exchanges;

namespace Gateway.Broker.Tests;

public class TopicTrieTests
{
    private sealed class Target(string name)
    {
        public string Name { get; } = name;
        public override string ToString() => Name;
    }

    /// <summary>The names of the distinct targets matched by <paramref name="key"/>, each pattern bound to its own target.</summary>
    private static string[] Matched(string key, params string[] patterns)
    {
        var trie = new TopicTrie<Target>(patterns.Select((p, i) => (p, new Target($"{i}:{p}"))));
        var results = new List<Target>();
        trie.Match(key, results);
        return results.Distinct().Select(t => t.Name).Order(StringComparer.Ordinal).ToArray();
    }

    private static bool Matches(string pattern, string key) => Matched(key, pattern).Length == 1;

    [Theory]
    [InlineData("a.b.c", "a.b.c", true)]
    [InlineData("a.b.c", "a.b", false)]
    [InlineData("a.b.c", "a.b.c.d", false)]
    [InlineData("a.b.c", "a.B.c", false)]
    [InlineData("stock.usd", "stock.usd", true)]
    [InlineData("stock.usd", "stock.eur", false)]
    public void Literal_pattern_matches_only_the_identical_key(string pattern, string key, bool expected) =>
        Assert.Equal(expected, Matches(pattern, key));

    [Theory]
    [InlineData("*", "a", true)]
    [InlineData("*", "", false)]
    [InlineData("*", "a.b", false)]
    [InlineData("a.*", "a.b", true)]
    [InlineData("a.*", "a", false)]
    [InlineData("a.*", "a.b.c", false)]
    [InlineData("*.b", "a.b", true)]
    [InlineData("*.*", "a.b", true)]
    [InlineData("*.*", "a", false)]
    [InlineData("a.*.c", "a.b.c", true)]
    [InlineData("a.*.c", "a.c", false)]
    public void Star_matches_exactly_one_word(string pattern, string key, bool expected) =>
        Assert.Equal(expected, Matches(pattern, key));

    [Theory]
    [InlineData("#", "", true)]
    [InlineData("#", "a", true)]
    [InlineData("#", "a.b.c", true)]
    [InlineData("a.#", "a", true)]
    [InlineData("a.#", "a.b", true)]
    [InlineData("a.#", "a.b.c", true)]
    [InlineData("a.#", "b.a", false)]
    [InlineData("#.a", "a", true)]
    [InlineData("#.a", "x.y.a", true)]
    [InlineData("#.a", "a.x", false)]
    [InlineData("a.#.b", "a.b", true)]
    [InlineData("a.#.b", "a.x.y.b", true)]
    [InlineData("a.#.b", "a.x.y", false)]
    [InlineData("#.#", "", true)]
    [InlineData("#.#", "a.b", true)]
    [InlineData("#.*", "", false)]
    [InlineData("#.*", "a", true)]
    [InlineData("*.#", "a.b.c", true)]
    [InlineData("#.b.#", "a.b.c", true)]
    [InlineData("#.b.#", "a.c", false)]
    public void Hash_matches_zero_or_more_words(string pattern, string key, bool expected) =>
        Assert.Equal(expected, Matches(pattern, key));

    [Theory]
    [InlineData("", "", true)]
    [InlineData("#", "", true)]
    [InlineData("*", "", false)]
    [InlineData("a", "", false)]
    [InlineData("", "a", false)]
    [InlineData("", ".", false)]
    public void Empty_key_has_no_words(string pattern, string key, bool expected) =>
        Assert.Equal(expected, Matches(pattern, key));

    [Theory]
    [InlineData("a..b", "a..b", true)]
    [InlineData("a.*.b", "a..b", true)]
    [InlineData("a.b", "a..b", false)]
    [InlineData("a.*", "a.", true)]
    [InlineData("a", "a.", false)]
    [InlineData("*.a", ".a", true)]
    [InlineData("a.", "a.", true)]
    [InlineData(".", ".", true)]
    [InlineData("*.*", ".", true)]
    [InlineData("*", ".", false)]
    [InlineData("#", ".", true)]
    [InlineData("a.#", "a.", true)]
    [InlineData("a.#.b", "a..b", true)]
    [InlineData(".", "", false)]
    public void Empty_words_are_words(string pattern, string key, bool expected) =>
        Assert.Equal(expected, Matches(pattern, key));

    [Theory]
    [InlineData("quick.orange.rabbit", new[] { "*.*.rabbit", "*.orange.*" })]
    [InlineData("lazy.orange.elephant", new[] { "*.orange.*", "lazy.#" })]
    [InlineData("quick.orange.fox", new[] { "*.orange.*" })]
    [InlineData("lazy.brown.fox", new[] { "lazy.#" })]
    [InlineData("lazy.pink.rabbit", new[] { "*.*.rabbit", "lazy.#" })]
    [InlineData("quick.brown.fox", new string[0])]
    [InlineData("orange", new string[0])]
    [InlineData("quick.orange.new.rabbit", new string[0])]
    [InlineData("lazy.orange.new.rabbit", new[] { "lazy.#" })]
    public void RabbitMQ_tutorial_examples_route_as_documented(string key, string[] expected)
    {
        string[] patterns = ["*.orange.*", "*.*.rabbit", "lazy.#"];
        var matched = Matched(key, patterns).Select(n => n[(n.IndexOf(':') + 1)..]).Order(StringComparer.Ordinal);
        Assert.Equal(expected.Order(StringComparer.Ordinal), matched);
    }

    [Fact]
    public void Trie_without_bindings_matches_nothing()
    {
        var trie = new TopicTrie<Target>([]);
        var results = new List<Target>();
        trie.Match("a.b", results);
        trie.Match("", results);
        Assert.Empty(results);
    }

    [Fact]
    public void Same_pattern_bound_to_several_targets_reports_each_of_them()
    {
        Target one = new("one"), two = new("two");
        var trie = new TopicTrie<Target>([("a.*", one), ("a.*", two)]);
        var results = new List<Target>();
        trie.Match("a.b", results);
        Assert.Equal(new[] { one, two }.ToHashSet(), results.ToHashSet());
    }

    [Fact]
    public void Target_bound_by_several_matching_patterns_is_reported_at_least_once()
    {
        Target t = new("t");
        var trie = new TopicTrie<Target>([("#", t), ("a.#", t), ("a.b", t), ("*.b", t)]);
        var results = new List<Target>();
        trie.Match("a.b", results);
        Assert.NotEmpty(results);
        Assert.All(results, r => Assert.Same(t, r));
    }

    [Fact]
    public void Match_appends_to_the_results_it_is_given()
    {
        Target existing = new("existing"), t = new("t");
        var trie = new TopicTrie<Target>([("a", t)]);
        var results = new List<Target> { existing };
        trie.Match("a", results);
        Assert.Equal([existing, t], results);
    }

    [Fact]
    public void Literal_star_and_hash_words_in_a_key_are_matched_only_by_wildcards()
    {
        Assert.True(Matches("*", "*"));
        Assert.True(Matches("#", "#"));
        Assert.False(Matches("a", "*"));
        Assert.False(Matches("a.b", "a.#"));
    }

    [Fact]
    public void Long_keys_are_matched_through_hash_and_star()
    {
        var key = string.Join('.', Enumerable.Range(0, 200).Select(i => $"w{i}"));
        Assert.True(Matches("#.w199", key));
        Assert.True(Matches("w0.#", key));
        Assert.True(Matches("#.w100.#", key));
        Assert.True(Matches("*.#.*", key));
        Assert.False(Matches("#.w200", key));
    }
}
