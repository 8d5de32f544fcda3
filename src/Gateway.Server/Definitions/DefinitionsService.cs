using FluentValidation;
using Gateway.Broker;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using Gateway.Server.Contracts;

namespace Gateway.Server.Definitions;

/// <summary>
/// Exports the topology in RabbitMQ's definitions format and imports such files through <see cref="IBroker.ImportAsync"/>
/// (one transaction). Every item is checked as its own HTTP declaration would be (the same validators), then declared by
/// the engine with its arguments as they are; what either refuses is reported with the reason, item by item.
/// </summary>
/// <remarks>
/// Mapping: RabbitMQ's vhost <c>/</c> is Gateway's <c>default</c>, both ways (Gateway names cannot contain <c>/</c>). The
/// default exchange and the predeclared <c>amq.*</c> exchanges are not exported (every vhost has them), nor are queues
/// named <c>amq.*</c> (server-named: they cannot be declared by name). Users, permissions and topic permissions are
/// reported as ignored (Gateway users sign in with API keys; a RabbitMQ password hash cannot become one), as are policies
/// and parameters, which Gateway does not have.
/// </remarks>
internal sealed partial class DefinitionsService(
    IBroker broker,
    IValidator<ExchangeDeclareRequest> exchangeValidator,
    IValidator<QueueDeclareRequest> queueValidator,
    IValidator<BindingRequest> bindingValidator,
    ILogger<DefinitionsService> logger)
{
    /// <summary>RabbitMQ's default vhost, which is Gateway's <see cref="MessageBroker.DefaultVhost"/>.</summary>
    public const string RabbitDefaultVhost = "/";

    public static string ToGateway(string rabbitVhost) => rabbitVhost == RabbitDefaultVhost ? MessageBroker.DefaultVhost : rabbitVhost;
    public static string ToRabbit(string vhost) => vhost == MessageBroker.DefaultVhost ? RabbitDefaultVhost : vhost;

    public async Task<DefinitionsDocument> ExportAsync(CancellationToken cancellationToken = default)
    {
        var document = new DefinitionsDocument
        {
            ProductName = "Gateway",
            ProductVersion = typeof(DefinitionsService).Assembly.GetName().Version?.ToString(),
            Users = [], Permissions = [], TopicPermissions = [], Parameters = [], GlobalParameters = [], Policies = [],
            Vhosts = [], Exchanges = [], Queues = [], Bindings = [],
        };
        foreach (var vhostName in await broker.ListVhostsAsync(cancellationToken))
        {
            if (await broker.GetVhostAsync(vhostName, cancellationToken) is not { } vhost) continue; // deleted meanwhile
            var name = ToRabbit(vhost.Name);
            document.Vhosts.Add(new VhostDefinition { Name = name });
            foreach (var x in (await vhost.ListExchangesAsync(cancellationToken)).Select(e => e.Definition).Where(x => x.Name.Length > 0 && !x.Name.StartsWith("amq.", StringComparison.Ordinal)))
                document.Exchanges.Add(new ExchangeDefinitionItem
                {
                    Name = x.Name, Vhost = name, Type = x.Type.ToName(), Durable = x.Durable, AutoDelete = x.AutoDelete, Internal = x.Internal,
                    Arguments = x.Arguments ?? new Dictionary<string, object?>(),
                });
            foreach (var q in (await vhost.ListQueuesAsync(cancellationToken)).Where(q => !q.Definition.Name.StartsWith("amq.", StringComparison.Ordinal)))
                document.Queues.Add(new QueueDefinitionItem
                {
                    Name = q.Definition.Name, Vhost = name, Durable = q.Definition.Durable, AutoDelete = q.Definition.AutoDelete, Type = "classic",
                    Arguments = q.Definition.Arguments ?? new Dictionary<string, object?>(),
                });
            foreach (var b in await vhost.ListBindingsAsync(cancellationToken))
                document.Bindings.Add(new BindingDefinitionItem
                {
                    Source = b.Source, Vhost = name, Destination = b.Destination,
                    DestinationType = b.DestinationType == BindingDestinationType.Queue ? "queue" : "exchange",
                    RoutingKey = b.RoutingKey, Arguments = b.Arguments ?? new Dictionary<string, object?>(),
                });
        }
        return document;
    }

    /// <summary>
    /// Imports <paramref name="document"/>. Throws <see cref="Gateway.Broker.Durability.StorageException"/> when it could not
    /// be stored (nothing changed then).
    /// </summary>
    public async Task<DefinitionsImportReport> ImportAsync(DefinitionsDocument document, bool allOrNothing = false, bool dryRun = false,
        CancellationToken cancellationToken = default)
    {
        var import = new TopologyImport();
        var vhosts = (document.Vhosts ?? []).Select(v => ToGateway(v.Name)).ToList();
        import.Vhosts.AddRange(vhosts);

        // Refusals found here, before the engine, by position; the others are passed on (their engine index recorded).
        var exchanges = Check(document.Exchanges, import.Exchanges, x =>
        {
            if (!ExchangeTypes.TryParse(x.Type, out var type))
                return (default, $"Exchange type '{x.Type}' is not supported: Gateway has direct, fanout, topic and headers exchanges.");
            var request = new ExchangeDeclareRequest { Type = ToKind(type), Durable = x.Durable, AutoDelete = x.AutoDelete, Internal = x.Internal, Arguments = x.Arguments };
            return Validate(exchangeValidator, request) is { } error
                ? (default, error)
                : ((ToGateway(x.Vhost), new ExchangeDefinition(x.Name, type, x.Durable, x.AutoDelete, x.Internal, x.Arguments)), null);
        });
        var queues = Check(document.Queues, import.Queues, q =>
        {
            if (q.Type is not (null or "classic"))
                return (default, $"Queue type '{q.Type}' is not supported: Gateway queues are classic queues.");
            var request = new QueueDeclareRequest { Durable = q.Durable, AutoDelete = q.AutoDelete, Arguments = q.Arguments };
            return Validate(queueValidator, request) is { } error
                ? (default, error)
                : ((ToGateway(q.Vhost), new QueueDefinition(q.Name, q.Durable, false, q.AutoDelete, q.Arguments)), null);
        });
        var bindings = Check(document.Bindings, import.Bindings, b =>
        {
            BindingDestinationType? type = b.DestinationType switch
            {
                "queue" => BindingDestinationType.Queue,
                "exchange" => BindingDestinationType.Exchange,
                _ => null,
            };
            if (type is null) return (default, $"Binding destination_type '{b.DestinationType}' must be 'queue' or 'exchange'.");
            var request = new BindingRequest
            {
                Source = b.Source, Destination = b.Destination, RoutingKey = b.RoutingKey, Arguments = b.Arguments,
                DestinationType = type == BindingDestinationType.Queue ? DestinationKind.Queue : DestinationKind.Exchange,
            };
            return Validate(bindingValidator, request) is { } error
                ? (default, error)
                : ((ToGateway(b.Vhost), new Binding(b.Source, b.Destination, type.Value, b.RoutingKey, b.Arguments)), null);
        });
        var refusedHere = exchanges.Any(e => e.Refusal is not null) || queues.Any(q => q.Refusal is not null) || bindings.Any(b => b.Refusal is not null);

        var outcome = await broker.ImportAsync(import, allOrNothing, dryRun: dryRun || (allOrNothing && refusedHere), cancellationToken);

        var report = new DefinitionsImportReport
        {
            Applied = outcome.Applied,
            Summary = null!,
            Vhosts = vhosts.Select((name, i) => Resource(name, name, outcome.Vhosts[i])).ToList(),
            Exchanges = (document.Exchanges ?? []).Select((x, i) => Resource(ToGateway(x.Vhost), x.Name, Merge(exchanges[i], outcome.Exchanges))).ToList(),
            Queues = (document.Queues ?? []).Select((q, i) => Resource(ToGateway(q.Vhost), q.Name, Merge(queues[i], outcome.Queues))).ToList(),
            Bindings = (document.Bindings ?? []).Select((b, i) =>
            {
                var result = Merge(bindings[i], outcome.Bindings);
                return new ImportedBinding
                {
                    Vhost = ToGateway(b.Vhost), Source = b.Source, Destination = b.Destination, DestinationType = b.DestinationType,
                    RoutingKey = b.RoutingKey, Outcome = ToApi(result.Outcome), Reason = result.Reason,
                };
            }).ToList(),
            Ignored = Ignored(document),
        };
        var all = report.Vhosts.Select(v => v.Outcome).Concat(report.Exchanges.Select(x => x.Outcome))
            .Concat(report.Queues.Select(q => q.Outcome)).Concat(report.Bindings.Select(b => b.Outcome)).ToList();
        report.Summary = new ImportSummary
        {
            Created = all.Count(o => o == ImportItemOutcome.Created),
            Existed = all.Count(o => o == ImportItemOutcome.Existed),
            Refused = all.Count(o => o == ImportItemOutcome.Refused),
            Ignored = report.Ignored.Sum(i => i.Count),
        };
        if (report.Applied)
            LogImported(report.Summary.Created, report.Summary.Existed, report.Summary.Refused, report.Summary.Ignored);
        return report;
    }

    private readonly record struct Checked(int EngineIndex, string? Refusal);

    // Runs each item's own check; accepted ones go to the engine's list, and their index there is remembered.
    private static List<Checked> Check<TItem, TEngine>(List<TItem>? items, List<TEngine> engine, Func<TItem, (TEngine Item, string? Refusal)> check)
    {
        var result = new List<Checked>();
        foreach (var item in items ?? [])
        {
            var (accepted, refusal) = check(item);
            if (refusal is not null) result.Add(new Checked(-1, refusal));
            else
            {
                result.Add(new Checked(engine.Count, null));
                engine.Add(accepted);
            }
        }
        return result;
    }

    private static ImportItemResult Merge(Checked item, IReadOnlyList<ImportItemResult> engine) =>
        item.Refusal is not null ? new ImportItemResult(ImportOutcome.Refused, item.Refusal) : engine[item.EngineIndex];

    private static string? Validate<T>(IValidator<T> validator, T request)
    {
        var result = validator.Validate(request);
        return result.IsValid ? null : string.Join(" ", result.Errors.Select(e => e.ErrorMessage));
    }

    private static ImportedResource Resource(string vhost, string name, ImportItemResult result) =>
        new() { Vhost = vhost, Name = name, Outcome = ToApi(result.Outcome), Reason = result.Reason };

    private static ImportItemOutcome ToApi(ImportOutcome outcome) => outcome switch
    {
        ImportOutcome.Created => ImportItemOutcome.Created,
        ImportOutcome.Existed => ImportItemOutcome.Existed,
        _ => ImportItemOutcome.Refused,
    };

    private static ExchangeKind ToKind(ExchangeType type) => type switch
    {
        ExchangeType.Direct => ExchangeKind.Direct,
        ExchangeType.Fanout => ExchangeKind.Fanout,
        ExchangeType.Topic => ExchangeKind.Topic,
        _ => ExchangeKind.Headers,
    };

    private static List<IgnoredDefinitions> Ignored(DefinitionsDocument d)
    {
        // Gateway's users sign in with API keys, not passwords: a RabbitMQ password hash cannot become one.
        const string noUsers = "Not imported: Gateway users sign in with API keys, so RabbitMQ users (and their password hashes) do not carry over; " +
                               "create them with PUT /api/users/{user}, their keys with POST /api/users/{user}/keys and their permissions with " +
                               "PUT /api/vhosts/{vhost}/permissions/{user}.";
        var sections = new (string Section, List<System.Text.Json.JsonElement>? Items, string Reason)[]
        {
            ("users", d.Users, noUsers),
            ("permissions", d.Permissions, noUsers),
            ("topic_permissions", d.TopicPermissions, noUsers),
            ("policies", d.Policies, "Gateway has no policies; declare queue arguments on the queues themselves."),
            ("parameters", d.Parameters, "Gateway has no runtime parameters (federation, shovels)."),
            ("global_parameters", d.GlobalParameters, "Gateway has no global parameters."),
        };
        return sections.Where(s => s.Items is { Count: > 0 })
            .Select(s => new IgnoredDefinitions { Section = s.Section, Count = s.Items!.Count, Reason = s.Reason }).ToList();
    }

    [LoggerMessage(EventId = 4000, Level = LogLevel.Information, Message = "Imported definitions: {Created} created, {Existed} existed, {Refused} refused, {Ignored} ignored")]
    private partial void LogImported(int created, int existed, int refused, int ignored);
}
