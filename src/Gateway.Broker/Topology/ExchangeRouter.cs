using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;

namespace Gateway.Broker.Topology;

/// <summary>An exchange type's matching over one exchange's bindings. Immutable; rebuilt when the bindings change.</summary>
internal abstract class ExchangeRouter
{
    /// <summary>True when some binding leads to an exchange, so routing must follow exchange-to-exchange paths.</summary>
    public bool HasExchangeTargets { get; private set; }

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

internal sealed class TopicRouter(IReadOnlyCollection<(Binding Binding, RouteTarget Target)> bindings) : ExchangeRouter
{
    private readonly TopicTrie<RouteTarget> _trie = new(bindings.Select(b => (b.Binding.RoutingKey, b.Target)));

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
