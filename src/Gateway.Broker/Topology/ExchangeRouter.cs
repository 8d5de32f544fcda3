using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;

namespace Gateway.Broker.Topology;

/// <summary>An exchange type's matching over one exchange's bindings. Immutable; rebuilt when the bindings change.</summary>
internal abstract class ExchangeRouter
{
    /// <summary>True when some binding leads to an exchange, so routing must follow exchange-to-exchange paths.</summary>
    public bool HasExchangeTargets { get; protected set; }

    /// <summary>This router plus one binding, built incrementally; null when the type rebuilds instead.</summary>
    public virtual ExchangeRouter? Adding(Binding binding, RouteTarget target) => null;

    /// <summary>This router minus one binding to a queue, built incrementally; null when the type rebuilds instead.</summary>
    public virtual ExchangeRouter? Removing(Binding binding, RouteTarget target) => null;

    /// <summary>Adds the targets of the bindings matching the message to <paramref name="into"/> (duplicates allowed).</summary>
    public abstract void Route(TopologySnapshot topology, string routingKey, IReadOnlyDictionary<string, object?>? headers, List<RouteTarget> into);

    public static ExchangeRouter Create(ExchangeType type, IReadOnlyCollection<(Binding Binding, RouteTarget Target)> bindings)
    {
        ExchangeRouter router = type switch
        {
            ExchangeType.Direct => new DirectRouter(bindings),
            ExchangeType.Fanout => new FanoutRouter(bindings),
            ExchangeType.Topic => new TopicRouter(bindings),
            _ => new HeadersRouter(bindings),
        };
        router.HasExchangeTargets = bindings.Any(b => b.Target.Exchange is not null);
        return router;
    }
}

/// <summary>The default exchange: the queue named by the routing key, bound implicitly to every queue.</summary>
internal sealed class DefaultRouter : ExchangeRouter
{
    public static readonly DefaultRouter Instance = new();

    public override void Route(TopologySnapshot topology, string routingKey, IReadOnlyDictionary<string, object?>? headers, List<RouteTarget> into)
    {
        if (topology.Queues.TryGetValue(routingKey, out var queue)) into.Add(queue.Target);
    }
}

internal sealed class DirectRouter(IReadOnlyCollection<(Binding Binding, RouteTarget Target)> bindings) : ExchangeRouter
{
    private readonly Dictionary<string, RouteTarget[]> _byKey = bindings
        .GroupBy(b => b.Binding.RoutingKey, StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => g.Select(b => b.Target).ToArray(), StringComparer.Ordinal);

    public override void Route(TopologySnapshot topology, string routingKey, IReadOnlyDictionary<string, object?>? headers, List<RouteTarget> into)
    {
        if (!_byKey.TryGetValue(routingKey, out var targets)) return;
        foreach (var target in targets) into.Add(target);
    }
}

internal sealed class FanoutRouter(IReadOnlyCollection<(Binding Binding, RouteTarget Target)> bindings) : ExchangeRouter
{
    // Several bindings (different keys) to one queue route it once: de-duplicated here, not on every route.
    private readonly RouteTarget[] _targets = bindings.Select(b => b.Target).Distinct().ToArray();

    public override void Route(TopologySnapshot topology, string routingKey, IReadOnlyDictionary<string, object?>? headers, List<RouteTarget> into)
    {
        foreach (var target in _targets) into.Add(target);
    }
}

internal sealed class TopicRouter : ExchangeRouter
{
    private readonly TopicTrie<RouteTarget> _trie;

    public TopicRouter(IReadOnlyCollection<(Binding Binding, RouteTarget Target)> bindings) =>
        _trie = new TopicTrie<RouteTarget>(bindings.Select(b => (b.Binding.RoutingKey, b.Target)));

    private TopicRouter(TopicTrie<RouteTarget> trie, bool hasExchangeTargets)
    {
        _trie = trie;
        HasExchangeTargets = hasExchangeTargets;
    }

    // Topic exchanges are where bindings number in thousands: change them along one path instead of rebuilding.
    public override ExchangeRouter Adding(Binding binding, RouteTarget target) =>
        new TopicRouter(_trie.With(binding.RoutingKey, target), HasExchangeTargets || target.Exchange is not null);

    public override ExchangeRouter? Removing(Binding binding, RouteTarget target) =>
        target.Queue is null ? null : new TopicRouter(_trie.Without(binding.RoutingKey, target), HasExchangeTargets);

    public override void Route(TopologySnapshot topology, string routingKey, IReadOnlyDictionary<string, object?>? headers, List<RouteTarget> into) =>
        _trie.Match(routingKey, into);
}

internal sealed class HeadersRouter(IReadOnlyCollection<(Binding Binding, RouteTarget Target)> bindings) : ExchangeRouter
{
    private readonly (HeadersPattern Pattern, RouteTarget Target)[] _patterns =
        bindings.Select(b => (new HeadersPattern(b.Binding.Arguments), b.Target)).ToArray();

    public override void Route(TopologySnapshot topology, string routingKey, IReadOnlyDictionary<string, object?>? headers, List<RouteTarget> into)
    {
        foreach (var (pattern, target) in _patterns)
            if (pattern.Matches(headers)) into.Add(target);
    }
}
