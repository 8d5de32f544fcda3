using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Gateway.Server.Tests;

/// <summary>
/// Docker cannot run here, so compose.yaml (2 gateway nodes over a 3-node RabbitMQ cluster and PostgreSQL) is checked
/// against what it must do and against docs/scale-out.md, as <see cref="DockerfileTests"/> does for the Dockerfile:
/// the settings, services and ports the page names are the compose file's, the gateway nodes differ only where they
/// must, and every endpoint they are given names a service of the file. Values are read as Compose would with an
/// empty environment (<c>${NAME:-default}</c> is the default, <c>$$</c> a dollar) and with its merge keys applied.
/// </summary>
public sealed class GatewayComposeTests
{
    private static readonly string Docs = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "docs", "scale-out.md"));
    private static readonly YamlMappingNode Compose = Load(Path.Combine(RepositoryPaths.Root, "compose.yaml"));
    private static readonly string[] Dockerfile = File.ReadAllLines(Path.Combine(RepositoryPaths.Root, "Dockerfile"));

    /// <summary>The settings a gateway node of the RabbitMQ backend is given (docs/scale-out.md, "Settings").</summary>
    private static readonly string[] RequiredSettings =
    [
        "Gateway__Backend", "Gateway__RabbitMq__Uris__0", "Gateway__RabbitMq__Uris__1", "Gateway__RabbitMq__Uris__2",
        "Gateway__RabbitMq__ManagementUri", "Gateway__RabbitMq__DurableQueueType", "Gateway__Storage__Provider",
        "Gateway__Storage__ConnectionString", "Gateway__RabbitMq__NodeName", "Gateway__Auth__BootstrapKey",
    ];

    /// <summary>The settings in which two gateway nodes differ; every other one is the same on all of them.</summary>
    private static readonly string[] PerNodeSettings = ["Gateway__RabbitMq__NodeName"];

    private static YamlMappingNode Load(string path)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(File.ReadAllText(path));
        stream.Load(reader);
        return (YamlMappingNode)Resolve(stream.Documents.Single().RootNode);
    }

    /// <summary>Applies the merge keys (<c>&lt;&lt;: *anchor</c>) as Compose does: a key of the mapping itself wins
    /// over a merged one (YamlDotNet's MergingParser refuses such an override as a duplicate key).</summary>
    private static YamlNode Resolve(YamlNode node) => node switch
    {
        YamlMappingNode map => Merge(map),
        YamlSequenceNode list => new YamlSequenceNode(list.Children.Select(Resolve)),
        _ => node,
    };

    private static YamlMappingNode Merge(YamlMappingNode map)
    {
        static bool IsMerge(YamlNode key) => key is YamlScalarNode { Value: "<<" };
        var result = new YamlMappingNode();
        foreach (var (key, value) in map.Children.Where(p => !IsMerge(p.Key))) result.Add(key, Resolve(value));
        foreach (var (_, value) in map.Children.Where(p => IsMerge(p.Key)))
            foreach (var source in value is YamlSequenceNode sources ? sources.Children : [value])
                foreach (var (key, merged) in Merge((YamlMappingNode)source).Children)
                    if (!result.Children.ContainsKey(key)) result.Add(key, merged);
        return result;
    }

    /// <summary>A value as Compose interpolates it with nothing set in the environment.</summary>
    private static string Interpolate(string value) =>
        Regex.Replace(value, @"\$\$|\$\{(\w+)(?::?[-?]([^}]*))?\}", m =>
            m.Value == "$$" ? "$"
            : m.Groups[2].Success ? m.Groups[2].Value
            : throw new Xunit.Sdk.XunitException($"compose.yaml: {m.Value} has no default, so the file does not run as it is."));

    private static YamlMappingNode Services => (YamlMappingNode)Compose["services"];

    private static IEnumerable<string> ServiceNames => Services.Children.Keys.Select(k => ((YamlScalarNode)k).Value!);

    private static YamlMappingNode Service(string name) =>
        Services.Children.TryGetValue(new YamlScalarNode(name), out var node) ? (YamlMappingNode)node
            : throw new Xunit.Sdk.XunitException($"compose.yaml has no service '{name}'.");

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode s ? Interpolate(s.Value ?? "") : null;

    private static Dictionary<string, string> Environment(string service)
    {
        if (!Service(service).Children.TryGetValue(new YamlScalarNode("environment"), out var node)) return [];
        return node switch
        {
            YamlMappingNode map => map.Children.ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => Interpolate(((YamlScalarNode)p.Value).Value ?? "")),
            YamlSequenceNode list => list.Children.Select(i => Interpolate(((YamlScalarNode)i).Value!).Split('=', 2))
                .ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : ""),
            _ => throw new Xunit.Sdk.XunitException($"compose.yaml: the environment of '{service}' is neither a mapping nor a list."),
        };
    }

    /// <summary>The published ports of a service as (host, container) pairs ("127.0.0.1:8081:8080" → (8081, 8080)).</summary>
    private static List<(int Host, int Container)> Ports(string service) =>
        Service(service).Children.TryGetValue(new YamlScalarNode("ports"), out var node)
            ? ((YamlSequenceNode)node).Children.Select(p =>
            {
                var parts = Interpolate(((YamlScalarNode)p).Value!).Split(':');
                return (int.Parse(parts[^2]), int.Parse(parts[^1].Split('/')[0]));
            }).ToList()
            : [];

    private static List<string> DependsOn(string service, string? condition = null)
    {
        if (!Service(service).Children.TryGetValue(new YamlScalarNode("depends_on"), out var node)) return [];
        return node switch
        {
            YamlSequenceNode list when condition is null => list.Children.Select(n => ((YamlScalarNode)n).Value!).ToList(),
            YamlSequenceNode => [],
            YamlMappingNode map => map.Children
                .Where(p => condition is null || Scalar((YamlMappingNode)p.Value, "condition") == condition)
                .Select(p => ((YamlScalarNode)p.Key).Value!).ToList(),
            _ => [],
        };
    }

    /// <summary>The text of the inline configs a service mounts (Compose's top-level <c>configs: …: content:</c>).</summary>
    private static string ConfigText(string service)
    {
        if (!Service(service).Children.TryGetValue(new YamlScalarNode("configs"), out var node)) return "";
        var configs = (YamlMappingNode)Compose["configs"];
        return string.Join("\n", ((YamlSequenceNode)node).Children.Select(c =>
        {
            var source = c is YamlMappingNode m ? Scalar(m, "source")! : ((YamlScalarNode)c).Value!;
            return Scalar((YamlMappingNode)configs[source], "content")
                ?? throw new Xunit.Sdk.XunitException($"compose.yaml: config '{source}' has no inline content.");
        }));
    }

    private static Dictionary<string, string> RabbitConf(string service) =>
        ConfigText(service).Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split('=', 2)).ToDictionary(kv => kv[0].Trim(), kv => kv[1].Trim());

    /// <summary>The gateway nodes: the services built from the repository's Dockerfile.</summary>
    private static List<string> Gateways => ServiceNames.Where(s =>
        Service(s).Children.TryGetValue(new YamlScalarNode("build"), out var build)
        && (build is YamlScalarNode { Value: "." } || build is YamlMappingNode b && Scalar(b, "context") == ".")).ToList();

    private static List<string> ServicesWithImage(string prefix) =>
        ServiceNames.Where(s => Scalar(Service(s), "image")?.StartsWith(prefix, StringComparison.Ordinal) == true).ToList();

    private static List<string> Rabbits => ServicesWithImage("rabbitmq:");

    /// <summary>The rows of the page's "## Services" table: service, image cell, ports cell.</summary>
    private static List<(string Service, string Image, string Ports)> DocumentedServices()
    {
        var start = Docs.IndexOf("\n## Services", StringComparison.Ordinal);
        Assert.True(start >= 0, "docs/scale-out.md has no '## Services' section.");
        var end = Docs.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        return Docs[start..(end < 0 ? Docs.Length : end)].Split('\n')
            .Select(l => Regex.Match(l, @"^\| `([\w-]+)` \| ([^|]+) \| ([^|]+) \|"))
            .Where(m => m.Success)
            .Select(m => (m.Groups[1].Value, m.Groups[2].Value.Trim(), m.Groups[3].Value.Trim()))
            .ToList();
    }

    [Fact]
    public void Every_gateway_setting_of_the_compose_file_is_named_in_the_scale_out_page()
    {
        var settings = Gateways.SelectMany(g => Environment(g).Keys).Where(k => k.StartsWith("Gateway__", StringComparison.Ordinal)).Distinct().ToList();

        Assert.NotEmpty(settings);
        Assert.All(settings, s => Assert.True(Docs.Contains($"`{s}`", StringComparison.Ordinal), $"docs/scale-out.md does not name {s}, which compose.yaml sets."));
        Assert.All(RequiredSettings, s => Assert.Contains($"`{s}`", Docs));
        Assert.All(Gateways, g => Assert.All(RequiredSettings, s =>
            Assert.True(Environment(g).ContainsKey(s), $"compose.yaml: gateway node '{g}' lacks {s}.")));
    }

    [Fact]
    public void The_services_and_ports_of_the_page_are_the_compose_files()
    {
        var documented = DocumentedServices();

        Assert.Equal(ServiceNames.Order(), documented.Select(d => d.Service).Order());
        foreach (var (service, image, ports) in documented)
        {
            var expectedPorts = Regex.Matches(ports, @"`(\d+)` → `(\d+)`").Select(m => (int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value)));
            Assert.True(expectedPorts.Order().SequenceEqual(Ports(service).Order()),
                $"docs/scale-out.md gives '{service}' the ports {ports}; compose.yaml publishes [{string.Join(", ", Ports(service))}].");
            if (Gateways.Contains(service)) Assert.Contains("`Dockerfile`", image);
            else Assert.Contains($"`{Scalar(Service(service), "image")}`", image);
        }
    }

    [Fact]
    public void The_gateway_nodes_are_built_from_the_Dockerfile_and_differ_only_in_their_node_name()
    {
        var gateways = Gateways;
        var exposed = int.Parse(Dockerfile.Single(l => l.StartsWith("EXPOSE ", StringComparison.Ordinal))[7..].Trim().Split(' ')[0]); // HTTP first, then AMQP

        Assert.True(gateways.Count >= 2, "compose.yaml should run at least 2 gateway nodes.");
        // Delivery tags carry a hash of the node name, and forwarded acks find their node by it: names must differ.
        Assert.Equal(gateways.Count, gateways.Select(g => Environment(g)["Gateway__RabbitMq__NodeName"]).Distinct().Count());
        foreach (var gateway in gateways) Assert.All(Ports(gateway), p => Assert.Equal(exposed, p.Container));
        var shared = gateways.Select(g => Environment(g).Where(kv => !PerNodeSettings.Contains(kv.Key)).OrderBy(kv => kv.Key).ToList()).ToList();
        Assert.All(shared, s => Assert.Equal(shared[0], s));
        Assert.True(Environment(gateways[0])["Gateway__Auth__BootstrapKey"].Length >= 32, "Gateway__Auth__BootstrapKey must be at least 32 characters.");
    }

    [Fact]
    public void The_gateways_use_the_RabbitMq_backend_over_every_node_of_the_compose_files_cluster()
    {
        var rabbits = Rabbits;
        var seedConf = RabbitConf(rabbits[0]);

        foreach (var gateway in Gateways)
        {
            var env = Environment(gateway);
            Assert.Equal("RabbitMq", env["Gateway__Backend"]);
            Assert.Equal("quorum", env["Gateway__RabbitMq__DurableQueueType"]);
            var uris = env.Where(kv => kv.Key.StartsWith("Gateway__RabbitMq__Uris__", StringComparison.Ordinal))
                .OrderBy(kv => kv.Key).Select(kv => new Uri(kv.Value)).ToList();
            Assert.Equal(rabbits, uris.Select(u => u.Host));
            Assert.All(uris, u =>
            {
                Assert.Equal("amqp", u.Scheme);
                Assert.Equal(5672, u.Port);
                Assert.Equal($"{seedConf["default_user"]}:{seedConf["default_pass"]}", Uri.UnescapeDataString(u.UserInfo));
            });
            var management = new Uri(env["Gateway__RabbitMq__ManagementUri"]);
            Assert.Contains(management.Host, rabbits);
            Assert.Equal(15672, management.Port);
            Assert.Equal(rabbits.Append(ServicesWithImage("postgres:").Single()).Order(), DependsOn(gateway, "service_healthy").Order());
        }
    }

    [Fact]
    public void The_RabbitMq_nodes_share_one_cookie_and_join_the_first_at_boot()
    {
        var rabbits = Rabbits;
        var seed = rabbits[0];

        Assert.Equal(3, rabbits.Count);
        Assert.All(rabbits, r => Assert.Equal("rabbitmq:3.10-management", Scalar(Service(r), "image")));
        Assert.All(rabbits, r => Assert.Equal(r, Scalar(Service(r), "hostname")));   // node name rabbit@<hostname>
        var cookies = rabbits.Select(r => Environment(r).GetValueOrDefault("RABBITMQ_ERLANG_COOKIE")).Distinct().ToList();
        Assert.Single(cookies);
        Assert.False(string.IsNullOrEmpty(cookies[0]), "compose.yaml: the RabbitMQ nodes have no RABBITMQ_ERLANG_COOKIE.");
        Assert.True(Service(seed).Children.ContainsKey(new YamlScalarNode("healthcheck")), $"compose.yaml: {seed} needs a health check: the others wait for it.");
        Assert.DoesNotContain("cluster_formation.peer_discovery_backend", RabbitConf(seed).Keys);
        foreach (var joiner in rabbits.Skip(1))
        {
            var conf = RabbitConf(joiner);
            Assert.Equal("classic_config", conf.GetValueOrDefault("cluster_formation.peer_discovery_backend"));
            Assert.Equal($"rabbit@{seed}", conf.GetValueOrDefault("cluster_formation.classic_config.nodes.1"));
            Assert.Equal([seed], DependsOn(joiner, "service_healthy"));
            Assert.Equal(RabbitConf(seed)["default_pass"], conf["default_pass"]);
        }
        Assert.Contains("classic_config", Docs);
        Assert.Contains($"rabbit@{seed}", Docs);
    }

    [Fact]
    public void The_shared_state_is_in_the_compose_files_PostgreSql()
    {
        var postgres = ServicesWithImage("postgres:").Single();
        var database = Environment(postgres);

        Assert.Equal("postgres:15", Scalar(Service(postgres), "image"));
        foreach (var gateway in Gateways)
        {
            var env = Environment(gateway);
            Assert.Equal("PostgreSql", env["Gateway__Storage__Provider"]);
            var connection = env["Gateway__Storage__ConnectionString"].Split(';', StringSplitOptions.RemoveEmptyEntries)
                .Select(p => p.Split('=', 2)).ToDictionary(kv => kv[0].Trim(), kv => kv[1].Trim(), StringComparer.OrdinalIgnoreCase);
            Assert.Equal(postgres, connection["Host"]);
            Assert.Equal(database["POSTGRES_DB"], connection["Database"]);
            Assert.Equal(database["POSTGRES_USER"], connection["Username"]);
            Assert.Equal(database["POSTGRES_PASSWORD"], connection["Password"]);
        }
    }

    [Fact]
    public void The_optional_load_balancer_spreads_over_every_gateway_node()
    {
        var balancers = ServiceNames.Where(s => !Gateways.Contains(s) && ConfigText(s).Contains("upstream", StringComparison.Ordinal)).ToList();
        var balancer = Assert.Single(balancers);
        var config = ConfigText(balancer);
        var exposed = int.Parse(Dockerfile.Single(l => l.StartsWith("EXPOSE ", StringComparison.Ordinal))[7..].Trim().Split(' ')[0]); // HTTP first, then AMQP

        Assert.Equal(Gateways.Order(), Regex.Matches(config, @"server (\w+):(\d+)").Select(m => m.Groups[1].Value).Order());
        Assert.All(Regex.Matches(config, @"server \w+:(\d+)"), m => Assert.Equal(exposed.ToString(), m.Groups[1].Value));
        Assert.Contains("proxy_set_header Upgrade $http_upgrade;", config);   // WebSocket
        Assert.Contains("proxy_buffering off;", config);                       // Server-Sent Events
        Assert.Contains("[lb]", Regex.Replace(Service(balancer).Children[new YamlScalarNode("profiles")].ToString(), @"\s", ""));
    }

    [Fact]
    public void Every_gateway_setting_of_the_compose_file_is_one_the_server_reads()
    {
        // The server refuses to start with a Gateway:* key that no setting reads (KnownSettings): a renamed setting
        // left in compose.yaml would stop both nodes.
        var known = new HashSet<string>(Gateway.Server.Configuration.KnownSettings.Keys, StringComparer.OrdinalIgnoreCase);
        foreach (var (section, type) in Gateway.Server.Configuration.KnownSettings.Sections)
            foreach (var property in type.GetProperties().Where(p => p.CanWrite)) known.Add($"{section}:{property.Name}");
        var unknown = Gateways.SelectMany(g => Environment(g).Keys).Where(k => k.StartsWith("Gateway__", StringComparison.Ordinal)).Distinct()
            .Select(k => k.Replace("__", ":"))
            .Where(k => !known.Contains(k) && !(k.LastIndexOf(':') is var colon and > 0 && int.TryParse(k[(colon + 1)..], out _) && known.Contains(k[..colon])))
            .ToList();
        Assert.True(unknown.Count == 0, "compose.yaml sets settings the server does not have: " + string.Join(", ", unknown));
    }
}
