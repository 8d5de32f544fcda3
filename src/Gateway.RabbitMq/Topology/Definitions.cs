using System.Text.Json;
using Gateway.Broker;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using Gateway.RabbitMq.Management;

namespace Gateway.RabbitMq.Topology;

/// <summary>How a gateway queue is declared in RabbitMQ.</summary>
internal readonly record struct RabbitQueueDeclaration(bool Durable, bool AutoDelete, string Type, Dictionary<string, object?> Arguments);

/// <summary>Gateway definitions to RabbitMQ's and back (the management API's JSON).</summary>
internal static class Definitions
{
    /// <summary>Marks a gateway-exclusive queue (a plain RabbitMQ queue, see RabbitMqVhost); its value is the owner's gateway node.</summary>
    public const string ExclusiveMarker = "gateway-exclusive";
    /// <summary>Set when the gateway added the <c>x-expires</c> of an exclusive queue (it is not part of the gateway definition).</summary>
    public const string ImpliedExpiresMarker = "gateway-implied-expires";

    public static string TypeName(RabbitMqQueueType type) => type == RabbitMqQueueType.Quorum ? "quorum" : "classic";

    /// <summary>
    /// The RabbitMQ declaration of a gateway queue. Durable, non-exclusive, non-auto-delete queues get the configured
    /// type (quorum by default); the others are classic, which is all RabbitMQ allows for them. Arguments a queue type
    /// does not have are refused rather than silently ignored.
    /// </summary>
    public static RabbitQueueDeclaration ToRabbit(QueueDefinition definition, RabbitMqOptions options)
    {
        var args = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (definition.Arguments is not null)
            foreach (var (k, v) in definition.Arguments) args[k] = v;
        var replicable = definition.Durable && !definition.Exclusive && !definition.AutoDelete;
        string type;
        if (args.Remove(Gateway.Broker.Queues.QueueArguments.QueueTypeKey, out var requested))
        {
            type = (requested as string) switch
            {
                "classic" => "classic",
                "quorum" when replicable => "quorum",
                "quorum" => throw Invalid("x-queue-type 'quorum' needs a durable, non-exclusive, non-auto-delete queue"),
                _ => throw Invalid($"x-queue-type must be 'classic' or 'quorum', not '{requested}'"),
            };
        }
        else type = replicable ? TypeName(options.DurableQueueType) : "classic";

        // The embedded engine's validation of the remaining arguments (types, ranges, names), with its messages.
        QueueArguments.Parse(args);
        if (type == "quorum")
        {
            if (args.ContainsKey(QueueArguments.MaxPriorityKey))
                throw Invalid("x-max-priority is not supported by RabbitMQ quorum queues (Gateway:RabbitMq:DurableQueueType is quorum); declare the queue with x-queue-type 'classic' for priorities");
            if (args.GetValueOrDefault(QueueArguments.OverflowKey) is "reject-publish-dlx")
                throw Invalid("x-overflow 'reject-publish-dlx' is not supported by RabbitMQ 3.10 quorum queues; use 'reject-publish' or 'drop-head'");
            if (args.ContainsKey(QueueArguments.QueueModeKey))
                throw Invalid("x-queue-mode is not supported by RabbitMQ quorum queues");
        }
        else if (args.ContainsKey(QueueArguments.DeliveryLimitKey))
            throw Invalid("x-delivery-limit needs a quorum queue on RabbitMQ (this queue is classic: it is exclusive, auto-delete or transient, or Gateway:RabbitMq:DurableQueueType is classic); RabbitMQ would ignore it");

        args[QueueArguments.QueueTypeKey] = type;
        return new RabbitQueueDeclaration(definition.Durable, definition.AutoDelete, type, args);
    }

    private static BrokerException Invalid(string problem) =>
        new(BrokerError.InvalidArgument, $"Queue argument refused by the RabbitMq backend (Gateway:Backend): {problem}.");

    /// <summary>A queue of the management API as the gateway's definition (its type and the gateway's markers left out).</summary>
    public static QueueDefinition QueueFromJson(JsonElement q, out string type)
    {
        type = ManagementJson.String(q, "type") ?? "classic";
        var args = ManagementJson.Table(q.TryGetProperty("arguments", out var a) ? a : default) ?? [];
        args.Remove(QueueArguments.QueueTypeKey);
        var exclusive = ManagementJson.Bool(q, "exclusive");
        if (args.Remove(ExclusiveMarker))
        {
            exclusive = true;
            if (args.Remove(ImpliedExpiresMarker)) args.Remove(QueueArguments.ExpiresKey);
        }
        return new QueueDefinition(ManagementJson.String(q, "name") ?? "", ManagementJson.Bool(q, "durable"), exclusive,
            ManagementJson.Bool(q, "auto_delete"), args.Count == 0 ? null : args);
    }

    /// <summary>A definition as compared for redeclaration: arguments without x-queue-type (the type is compared apart).</summary>
    public static QueueDefinition Comparable(QueueDefinition d)
    {
        if (d.Arguments is null || !d.Arguments.ContainsKey(QueueArguments.QueueTypeKey)) return d.Arguments is { Count: 0 } ? d with { Arguments = null } : d;
        var args = d.Arguments.Where(kv => kv.Key != QueueArguments.QueueTypeKey).ToDictionary(StringComparer.Ordinal);
        return d with { Arguments = args.Count == 0 ? null : args };
    }

    /// <summary>An exchange of the management API, or null for a type the gateway does not have (a plugin's).</summary>
    public static ExchangeDefinition? ExchangeFromJson(JsonElement x)
    {
        if (!ExchangeTypes.TryParse(ManagementJson.String(x, "type"), out var type)) return null;
        var args = ManagementJson.Table(x.TryGetProperty("arguments", out var a) ? a : default);
        return new ExchangeDefinition(ManagementJson.String(x, "name") ?? "", type, ManagementJson.Bool(x, "durable"),
            ManagementJson.Bool(x, "auto_delete"), ManagementJson.Bool(x, "internal"), args);
    }

    /// <summary>RabbitMQ's own exchanges that the gateway does not show (the embedded engine has no such thing).</summary>
    public static bool IsHidden(string exchange) => exchange.StartsWith("amq.rabbitmq.", StringComparison.Ordinal);

    /// <summary>A binding of the management API (with its properties key, which names it in DELETE), or null for the default exchange's.</summary>
    public static (Binding Binding, string PropertiesKey)? BindingFromJson(JsonElement b)
    {
        var source = ManagementJson.String(b, "source") ?? "";
        if (source.Length == 0) return null;
        var destinationType = ManagementJson.String(b, "destination_type") == "exchange" ? BindingDestinationType.Exchange : BindingDestinationType.Queue;
        var args = ManagementJson.Table(b.TryGetProperty("arguments", out var a) ? a : default);
        var binding = new Binding(source, ManagementJson.String(b, "destination") ?? "", destinationType, ManagementJson.String(b, "routing_key") ?? "", args);
        return (binding, ManagementJson.String(b, "properties_key") ?? "~");
    }
}
