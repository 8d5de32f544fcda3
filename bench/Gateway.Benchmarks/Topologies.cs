using System.Diagnostics;
using Gateway.Broker;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;

namespace Gateway.Benchmarks;

/// <summary>Builds the topologies the routing benchmarks route through, with the engine's public API.</summary>
public static class Topologies
{
    public const string Direct = "bench.direct";
    public const string Fanout = "bench.fanout";
    public const string Topic = "bench.topic";
    public const string HeadersAll = "bench.headers.all";
    public const string HeadersAny = "bench.headers.any";

    public const int DirectBindings = 300;
    public const int FanoutQueues = 10;
    public const int TopicBindings = 10_000;
    public const int TopicQueues = 1_000;
    public const int HeadersBindings = 100;

    private static readonly QueueDefinition Transient = new("x", Durable: false);

    public static VirtualHost NewVhost(MessageBroker broker) => broker.GetVhost(MessageBroker.DefaultVhost)!;

    public static MessageQueue Queue(VirtualHost vhost, string name) =>
        vhost.DeclareQueue(Transient with { Name = name }).Queue;

    public static void Bind(VirtualHost vhost, string exchange, string queue, string key, IReadOnlyDictionary<string, object?>? args = null) =>
        vhost.Bind(new Binding(exchange, queue, BindingDestinationType.Queue, key, args));

    /// <summary>Direct exchange, <see cref="DirectBindings"/> bindings <c>order.{i}</c> → <c>d{i}</c>; returns keys that hit one each.</summary>
    public static string[] BuildDirect(VirtualHost vhost)
    {
        vhost.DeclareExchange(new ExchangeDefinition(Direct, ExchangeType.Direct, Durable: false));
        for (var i = 0; i < DirectBindings; i++)
        {
            Queue(vhost, $"d{i}");
            Bind(vhost, Direct, $"d{i}", $"order.{i}");
        }
        var random = new Random(7);
        return Enumerable.Range(0, 256).Select(_ => $"order.{random.Next(DirectBindings)}").ToArray();
    }

    /// <summary>Fanout exchange bound to <see cref="FanoutQueues"/> queues.</summary>
    public static void BuildFanout(VirtualHost vhost)
    {
        vhost.DeclareExchange(new ExchangeDefinition(Fanout, ExchangeType.Fanout, Durable: false));
        for (var i = 0; i < FanoutQueues; i++)
        {
            Queue(vhost, $"f{i}");
            Bind(vhost, Fanout, $"f{i}", "");
        }
    }

    /// <summary>
    /// Topic exchange with <see cref="TopicBindings"/> distinct bindings over <see cref="TopicQueues"/> queues, keys of
    /// the form <c>region{r}.service{s}.event{e}</c> (r &lt; 50, s &lt; 200, e &lt; 100):
    /// 5,400 exact keys, 3,000 <c>region{r}.service{s}.*</c>, 1,000 <c>region{r}.*.event{e}</c>,
    /// 400 <c>*.service{s}.#</c> (2 per service) and 200 <c>#.event{e}</c> (2 per event).
    /// Returns 1,024 publish keys, half of them bound exact keys, half random; each matches a handful of bindings.
    /// </summary>
    public static string[] BuildTopic(VirtualHost vhost, out TimeSpan bindTime)
    {
        vhost.DeclareExchange(new ExchangeDefinition(Topic, ExchangeType.Topic, Durable: false));
        for (var i = 0; i < TopicQueues; i++) Queue(vhost, $"t{i}");

        var bindings = TopicPatterns();
        var watch = Stopwatch.StartNew();
        foreach (var (pattern, queue) in bindings) Bind(vhost, Topic, queue, pattern);
        bindTime = watch.Elapsed;

        return TopicKeys(bindings);
    }

    /// <summary>1,024 publish keys for the topic bindings: even ones are bound exact keys, odd ones random.</summary>
    public static string[] TopicKeys(List<(string Pattern, string Queue)> bindings)
    {
        var random = new Random(11);
        var exact = bindings.Where(b => !b.Pattern.Contains('*') && !b.Pattern.Contains('#')).Select(b => b.Pattern).ToArray();
        return Enumerable.Range(0, 1024)
            .Select(i => i % 2 == 0
                ? exact[random.Next(exact.Length)]
                : $"region{random.Next(50)}.service{random.Next(200)}.event{random.Next(100)}")
            .ToArray();
    }

    /// <summary>The (pattern, queue) pairs of the topic exchange, deterministic.</summary>
    public static List<(string Pattern, string Queue)> TopicPatterns()
    {
        var random = new Random(42);
        var seen = new HashSet<(string, string)>();
        var result = new List<(string Pattern, string Queue)>(TopicBindings);
        void Add(int count, Func<string> pattern)
        {
            var target = result.Count + count;
            while (result.Count < target)
            {
                var pair = (pattern(), $"t{random.Next(TopicQueues)}");
                if (seen.Add(pair)) result.Add(pair);
            }
        }
        Add(5_400, () => $"region{random.Next(50)}.service{random.Next(200)}.event{random.Next(100)}");
        Add(3_000, () => $"region{random.Next(50)}.service{random.Next(200)}.*");
        Add(1_000, () => $"region{random.Next(50)}.*.event{random.Next(100)}");
        Add(400, () => $"*.service{random.Next(200)}.#");
        Add(200, () => $"#.event{random.Next(100)}");
        return result;
    }

    private static readonly string[] Formats = ["pdf", "zip", "csv", "json"];
    private static readonly string[] Types = ["report", "invoice", "receipt", "order", "refund"];
    private static readonly string[] Regions = ["eu", "us", "apac", "latam", "mea"];

    /// <summary>
    /// Two headers exchanges of <see cref="HeadersBindings"/> bindings each. <c>x-match=all</c>: every combination
    /// of format × type × region (3 keys). <c>x-match=any</c>: <c>user=u{i}</c> or <c>tenant={i}</c> (a long).
    /// Returns 64 message header tables; each matches one <c>all</c> binding and two <c>any</c> bindings.
    /// </summary>
    public static IReadOnlyDictionary<string, object?>[] BuildHeaders(VirtualHost vhost)
    {
        vhost.DeclareExchange(new ExchangeDefinition(HeadersAll, ExchangeType.Headers, Durable: false));
        vhost.DeclareExchange(new ExchangeDefinition(HeadersAny, ExchangeType.Headers, Durable: false));
        for (var i = 0; i < HeadersBindings; i++)
        {
            Queue(vhost, $"h{i}");
            Bind(vhost, HeadersAll, $"h{i}", "", new Dictionary<string, object?>
            {
                ["x-match"] = "all",
                ["format"] = Formats[i % 4],
                ["type"] = Types[i / 4 % 5],
                ["region"] = Regions[i / 20],
            });
            Bind(vhost, HeadersAny, $"h{i}", "", new Dictionary<string, object?>
            {
                ["x-match"] = "any",
                ["user"] = $"u{i}",
                ["tenant"] = (long)i,
            });
        }
        var random = new Random(3);
        return Enumerable.Range(0, 64).Select(_ =>
        {
            var user = random.Next(HeadersBindings);
            int tenant;
            do tenant = random.Next(HeadersBindings); while (tenant == user);
            return (IReadOnlyDictionary<string, object?>)new Dictionary<string, object?>
            {
                ["format"] = Formats[random.Next(4)],
                ["type"] = Types[random.Next(5)],
                ["region"] = Regions[random.Next(5)],
                ["user"] = $"u{user}",
                ["tenant"] = (long)tenant,
                ["x-trace-id"] = "4bf92f3577b34da6",
                ["size"] = 1234L,
            };
        }).ToArray();
    }
}
