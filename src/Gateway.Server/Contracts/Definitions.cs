using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Server.Json;

namespace Gateway.Server.Contracts;

// RabbitMQ's definitions format (rabbitmqctl export_definitions, GET /api/definitions of its management plugin), with its
// field names. Members Gateway does not know (other RabbitMQ versions add some) are skipped rather than refused.

/// <summary>
/// Definitions in RabbitMQ's format. Vhost <c>/</c> (RabbitMQ's default) is Gateway's <c>default</c>, both ways.
/// <c>users</c>, <c>permissions</c>, <c>topic_permissions</c>, <c>policies</c>, <c>parameters</c> and
/// <c>global_parameters</c> are accepted and reported as ignored: Gateway users sign in with API keys (RabbitMQ users and
/// password hashes do not carry over), and Gateway has no policies or parameters.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Skip)]
public sealed class DefinitionsDocument
{
    /// <summary>The RabbitMQ version that exported the file (informational).</summary>
    [JsonPropertyName("rabbit_version"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? RabbitVersion { get; set; }
    /// <summary>The RabbitMQ version that exported the file (informational, newer exports).</summary>
    [JsonPropertyName("rabbitmq_version"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? RabbitmqVersion { get; set; }
    /// <summary>The product that exported the file (Gateway writes <c>Gateway</c>).</summary>
    [JsonPropertyName("product_name"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ProductName { get; set; }
    /// <summary>Its version.</summary>
    [JsonPropertyName("product_version"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ProductVersion { get; set; }
    /// <summary>Users: not imported (reported as ignored).</summary>
    [JsonPropertyName("users")] public List<JsonElement>? Users { get; set; }
    /// <summary>Virtual hosts.</summary>
    [JsonPropertyName("vhosts")] public List<VhostDefinition>? Vhosts { get; set; }
    /// <summary>Permissions: not imported (reported as ignored).</summary>
    [JsonPropertyName("permissions")] public List<JsonElement>? Permissions { get; set; }
    /// <summary>Topic permissions: not imported (reported as ignored).</summary>
    [JsonPropertyName("topic_permissions")] public List<JsonElement>? TopicPermissions { get; set; }
    /// <summary>Runtime parameters: not imported (reported as ignored).</summary>
    [JsonPropertyName("parameters")] public List<JsonElement>? Parameters { get; set; }
    /// <summary>Global parameters: not imported (reported as ignored).</summary>
    [JsonPropertyName("global_parameters")] public List<JsonElement>? GlobalParameters { get; set; }
    /// <summary>Policies: not imported (reported as ignored).</summary>
    [JsonPropertyName("policies")] public List<JsonElement>? Policies { get; set; }
    /// <summary>Queues.</summary>
    [JsonPropertyName("queues")] public List<QueueDefinitionItem>? Queues { get; set; }
    /// <summary>Exchanges.</summary>
    [JsonPropertyName("exchanges")] public List<ExchangeDefinitionItem>? Exchanges { get; set; }
    /// <summary>Bindings.</summary>
    [JsonPropertyName("bindings")] public List<BindingDefinitionItem>? Bindings { get; set; }
}

/// <summary>A vhost in RabbitMQ's format (its <c>limits</c> and <c>metadata</c> are not used).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Skip)]
public sealed class VhostDefinition
{
    /// <summary>Its name; <c>/</c> is Gateway's <c>default</c>.</summary>
    [JsonPropertyName("name")] public required string Name { get; set; }
}

/// <summary>An exchange in RabbitMQ's format.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Skip)]
public sealed class ExchangeDefinitionItem
{
    /// <summary>Its name.</summary>
    [JsonPropertyName("name")] public required string Name { get; set; }
    /// <summary>Its vhost; <c>/</c> is Gateway's <c>default</c>.</summary>
    [JsonPropertyName("vhost")] public required string Vhost { get; set; }
    /// <summary><c>direct</c>, <c>fanout</c>, <c>topic</c> or <c>headers</c>; other types are refused.</summary>
    [JsonPropertyName("type")] public required string Type { get; set; }
    /// <summary>Survives restarts. Default true.</summary>
    [JsonPropertyName("durable")] public bool Durable { get; set; } = true;
    /// <summary>Deleted with its last binding. Default false.</summary>
    [JsonPropertyName("auto_delete")] public bool AutoDelete { get; set; }
    /// <summary>Not publishable directly. Default false.</summary>
    [JsonPropertyName("internal")] public bool Internal { get; set; }
    /// <summary>Arguments, e.g. <c>alternate-exchange</c>.</summary>
    [JsonPropertyName("arguments"), JsonConverter(typeof(FieldTableConverter))]
    public IReadOnlyDictionary<string, object?>? Arguments { get; set; }
}

/// <summary>A queue in RabbitMQ's format.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Skip)]
public sealed class QueueDefinitionItem
{
    /// <summary>Its name.</summary>
    [JsonPropertyName("name")] public required string Name { get; set; }
    /// <summary>Its vhost; <c>/</c> is Gateway's <c>default</c>.</summary>
    [JsonPropertyName("vhost")] public required string Vhost { get; set; }
    /// <summary>Survives restarts. Default true.</summary>
    [JsonPropertyName("durable")] public bool Durable { get; set; } = true;
    /// <summary>Deleted when its last consumer goes. Default false.</summary>
    [JsonPropertyName("auto_delete")] public bool AutoDelete { get; set; }
    /// <summary>RabbitMQ's queue type: <c>classic</c> (or absent); <c>quorum</c> and <c>stream</c> are refused.</summary>
    [JsonPropertyName("type")] public string? Type { get; set; }
    /// <summary>Arguments (<c>x-message-ttl</c>, <c>x-dead-letter-exchange</c>…), passed to the queue's declaration as they are.</summary>
    [JsonPropertyName("arguments"), JsonConverter(typeof(FieldTableConverter))]
    public IReadOnlyDictionary<string, object?>? Arguments { get; set; }
}

/// <summary>A binding in RabbitMQ's format.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Skip)]
public sealed class BindingDefinitionItem
{
    /// <summary>The source exchange.</summary>
    [JsonPropertyName("source")] public required string Source { get; set; }
    /// <summary>Its vhost; <c>/</c> is Gateway's <c>default</c>.</summary>
    [JsonPropertyName("vhost")] public required string Vhost { get; set; }
    /// <summary>The destination queue or exchange.</summary>
    [JsonPropertyName("destination")] public required string Destination { get; set; }
    /// <summary><c>queue</c> or <c>exchange</c>.</summary>
    [JsonPropertyName("destination_type")] public required string DestinationType { get; set; }
    /// <summary>The binding key.</summary>
    [JsonPropertyName("routing_key")] public string RoutingKey { get; set; } = "";
    /// <summary>Arguments (headers exchanges match on them).</summary>
    [JsonPropertyName("arguments"), JsonConverter(typeof(FieldTableConverter))]
    public IReadOnlyDictionary<string, object?>? Arguments { get; set; }
}

/// <summary>What an import did with one item.</summary>
[JsonConverter(typeof(NamedEnumConverter<ImportItemOutcome>))]
public enum ImportItemOutcome
{
    /// <summary>Created.</summary>
    [JsonStringEnumMemberName("created")] Created,
    /// <summary>An equivalent one existed; nothing changed.</summary>
    [JsonStringEnumMemberName("existed")] Existed,
    /// <summary>Refused, for the <c>reason</c> given; nothing was declared for it.</summary>
    [JsonStringEnumMemberName("refused")] Refused,
}

/// <summary>The outcome of a vhost, exchange or queue of an import.</summary>
public sealed class ImportedResource
{
    /// <summary>Its vhost as Gateway names it (RabbitMQ's <c>/</c> is <c>default</c>); for a vhost, its own name.</summary>
    public required string Vhost { get; set; }
    /// <summary>Its name.</summary>
    public required string Name { get; set; }
    /// <summary>What the import did.</summary>
    public required ImportItemOutcome Outcome { get; set; }
    /// <summary>Why it was refused.</summary>
    public string? Reason { get; set; }
}

/// <summary>The outcome of a binding of an import.</summary>
public sealed class ImportedBinding
{
    /// <summary>Its vhost as Gateway names it.</summary>
    public required string Vhost { get; set; }
    /// <summary>The source exchange.</summary>
    public required string Source { get; set; }
    /// <summary>The destination.</summary>
    public required string Destination { get; set; }
    /// <summary><c>queue</c> or <c>exchange</c>, as the file said.</summary>
    public required string DestinationType { get; set; }
    /// <summary>The binding key.</summary>
    public required string RoutingKey { get; set; }
    /// <summary>What the import did.</summary>
    public required ImportItemOutcome Outcome { get; set; }
    /// <summary>Why it was refused.</summary>
    public string? Reason { get; set; }
}

/// <summary>A part of the file Gateway does not import (users, permissions, policies, parameters).</summary>
public sealed class IgnoredDefinitions
{
    /// <summary>The file's section, e.g. <c>users</c>.</summary>
    public required string Section { get; set; }
    /// <summary>How many items it held.</summary>
    [Range(1, int.MaxValue)] public required int Count { get; set; }
    /// <summary>Why they are not imported.</summary>
    public required string Reason { get; set; }
}

/// <summary>Counts of an import's outcomes.</summary>
public sealed class ImportSummary
{
    /// <summary>Items created.</summary>
    public required int Created { get; set; }
    /// <summary>Items that existed already.</summary>
    public required int Existed { get; set; }
    /// <summary>Items refused.</summary>
    public required int Refused { get; set; }
    /// <summary>Items of sections not imported (users, permissions…).</summary>
    public required int Ignored { get; set; }
}

/// <summary>What an import did, item by item in the file's order.</summary>
public sealed class DefinitionsImportReport
{
    /// <summary>
    /// True when the import was applied: every item not refused now exists. False only with <c>allOrNothing=true</c> and a
    /// refused item: then nothing changed, and the outcomes say what would have happened.
    /// </summary>
    public required bool Applied { get; set; }
    /// <summary>Counts of the outcomes.</summary>
    public required ImportSummary Summary { get; set; }
    /// <summary>Vhosts.</summary>
    public required List<ImportedResource> Vhosts { get; set; }
    /// <summary>Exchanges.</summary>
    public required List<ImportedResource> Exchanges { get; set; }
    /// <summary>Queues.</summary>
    public required List<ImportedResource> Queues { get; set; }
    /// <summary>Bindings.</summary>
    public required List<ImportedBinding> Bindings { get; set; }
    /// <summary>Sections of the file that were not imported.</summary>
    public required List<IgnoredDefinitions> Ignored { get; set; }
}
