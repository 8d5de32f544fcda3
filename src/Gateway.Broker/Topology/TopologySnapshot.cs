using Gateway.Broker.Exchanges;
using Gateway.Broker.Queues;
using Gateway.Broker.Statistics;

namespace Gateway.Broker.Topology;

/// <summary>
/// One exchange as the router sees it: its definition, the matcher over its bindings, and its counters (the same
/// instance across the nodes that replace each other as bindings change).
/// </summary>
internal sealed record ExchangeNode(ExchangeDefinition Definition, ExchangeRouter Router, ExchangeStatistics Statistics);

/// <summary>
/// An immutable picture of a vhost's exchanges, bindings and queues. Publishers route against the current
/// snapshot without locks; topology changes build a new one and swap it in.
/// </summary>
internal sealed class TopologySnapshot(Dictionary<string, ExchangeNode> exchanges, Dictionary<string, MessageQueue> queues)
{
    public Dictionary<string, ExchangeNode> Exchanges { get; } = exchanges;
    public Dictionary<string, MessageQueue> Queues { get; } = queues;

    /// <summary>
    /// Routes as RabbitMQ's <c>rabbit_exchange:route/2</c>: each exchange reached matches its own bindings with the
    /// original routing key; an exchange whose bindings match nothing (neither queue nor exchange) passes the message
    /// to its alternate exchange; each exchange is visited at most once (so cycles end) and each queue receives the
    /// message once, however many paths lead to it. Missing exchanges and queues are skipped.
    /// </summary>
    public void Route(ExchangeNode start, string routingKey, IReadOnlyDictionary<string, object?>? headers, List<MessageQueue> queues)
    {
        var scratch = RouteScratch.Rent();
        try
        {
            // The usual case: one exchange, bindings to queues only. Its targets are the answer once de-duplicated;
            // no exchange bookkeeping. (Deleted queues are filtered by Enqueue, under the queue's lock.)
            if (!start.Router.HasExchangeTargets)
            {
                var direct = scratch.Targets;
                start.Router.Route(this, routingKey, headers, direct);
                if (direct.Count > 0 || start.Definition.AlternateExchange is null)
                {
                    AddDistinct(direct, queues, scratch.SeenQueues);
                    return;
                }
                direct.Clear();
            }

            var work = scratch.Work;
            var seen = scratch.SeenExchanges;
            var targets = scratch.Targets;
            var seenQueues = scratch.SeenQueues;
            work.Push(start);
            seen.Add(start.Definition.Name);
            while (work.TryPop(out var exchange))
            {
                targets.Clear();
                exchange.Router.Route(this, routingKey, headers, targets);
                if (targets.Count == 0)
                {
                    if (exchange.Definition.AlternateExchange is { } ae) Follow(ae);
                    continue;
                }
                // Single-exchange, single-target routes (the common case) need no de-duplication set.
                if (targets.Count == 1 && targets[0].Queue is { } only && work.Count == 0 && queues.Count == 0)
                {
                    if (!only.IsDeleted) queues.Add(only);
                    continue;
                }
                foreach (var target in targets)
                {
                    if (target.Queue is { } queue)
                    {
                        if (!queue.IsDeleted && seenQueues.Add(queue)) queues.Add(queue);
                    }
                    else Follow(target.Exchange!);
                }
            }

            void Follow(string name)
            {
                if (seen.Add(name) && Exchanges.TryGetValue(name, out var next)) work.Push(next);
            }
        }
        finally
        {
            scratch.Return();
        }
    }

    // Small results de-duplicate by a linear scan (cheaper than hashing); large ones through a set.
    private static void AddDistinct(List<RouteTarget> targets, List<MessageQueue> queues, HashSet<MessageQueue> seen)
    {
        var start = queues.Count;
        if (targets.Count <= 16)
        {
            foreach (var target in targets)
            {
                var queue = target.Queue!;
                var duplicate = false;
                for (var i = start; i < queues.Count; i++)
                    if (ReferenceEquals(queues[i], queue)) { duplicate = true; break; }
                if (!duplicate) queues.Add(queue);
            }
            return;
        }
        foreach (var target in targets)
            if (seen.Add(target.Queue!)) queues.Add(target.Queue!);
    }

    /// <summary>Per-thread working sets for routing, so that a route allocates nothing but its result.</summary>
    private sealed class RouteScratch
    {
        [ThreadStatic] private static RouteScratch? t_cached;

        public readonly Stack<ExchangeNode> Work = new();
        public readonly HashSet<string> SeenExchanges = new(StringComparer.Ordinal);
        public readonly HashSet<MessageQueue> SeenQueues = new(ReferenceEqualityComparer.Instance);
        public readonly List<RouteTarget> Targets = [];

        public static RouteScratch Rent()
        {
            var scratch = t_cached ?? new RouteScratch();
            t_cached = null;
            return scratch;
        }

        public void Return()
        {
            Work.Clear();
            SeenExchanges.Clear();
            SeenQueues.Clear();
            Targets.Clear();
            t_cached = this;
        }
    }
}
