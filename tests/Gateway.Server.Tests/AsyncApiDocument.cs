using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Gateway.Server.Tests;

/// <summary>
/// openapi/asyncapi.yaml, read as a test reads it: its messages, their examples, and the schema of each message's JSON
/// compiled by a JSON Schema validator (JsonSchema.Net) with the document's component schemas as <c>$defs</c>. The JSON
/// of a text message is its payload; that of a binary message (<c>binaryPublish</c>, <c>binaryDelivery</c>) is its
/// header, described as the message's <c>headers</c>.
/// </summary>
internal sealed partial class AsyncApiDocument
{
    private readonly Dictionary<string, JsonSchema> _open = new(StringComparer.Ordinal);
    private readonly Dictionary<string, JsonSchema> _closed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _types = new(StringComparer.Ordinal);

    private AsyncApiDocument(JsonObject root)
    {
        Root = root;
        var schemas = (JsonObject)root["components"]!["schemas"]!.DeepClone();
        RewriteRefs(schemas);
        foreach (var (name, message) in (JsonObject)root["components"]!["messages"]!)
        {
            var schemaName = JsonSchemaNameOf(message!);
            _types[name] = schemas[schemaName]!["properties"]!["type"]!["const"]!.GetValue<string>();
            _open[name] = Compile(schemaName, schemas, closed: false);
            _closed[name] = Compile(schemaName, schemas, closed: true);
        }
    }

    /// <summary>The whole document as JSON.</summary>
    public JsonObject Root { get; }

    /// <summary>The names of <c>components.messages</c>.</summary>
    public IEnumerable<string> MessageNames => _open.Keys;

    /// <summary>The <c>type</c> the JSON of message <paramref name="message"/> carries (<c>publish</c> for <c>binaryPublish</c>).</summary>
    public string TypeOf(string message) => _types[message];

    public static AsyncApiDocument Load() => new(ToJson(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "openapi", "asyncapi.yaml"))));

    /// <summary>
    /// The errors of <paramref name="frame"/> against the payload schema of message <paramref name="message"/>, empty
    /// when valid. With <paramref name="closed"/>, members the schema does not declare are errors too (a frame the
    /// server sends must carry nothing undocumented).
    /// </summary>
    public List<string> Errors(string message, JsonElement frame, bool closed)
    {
        Assert.True(_open.ContainsKey(message), $"The AsyncAPI document has no message '{message}' (frame {frame.GetRawText()}).");
        var result = (closed ? _closed : _open)[message].Evaluate(frame, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid) return [];
        return result.Details?.Where(d => d.Errors is { Count: > 0 })
                   .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation} ({d.EvaluationPath}): {e.Key}: {e.Value}")).ToList()
               ?? ["invalid"];
    }

    /// <summary>
    /// Asserts that <paramref name="frame"/> is valid for message <paramref name="message"/> (when null, the text
    /// message named by the frame's <c>type</c>).
    /// </summary>
    public void AssertValid(JsonElement frame, bool closed, string? message = null)
    {
        message ??= frame.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "(no type)";
        var errors = Errors(message, frame, closed);
        Assert.True(errors.Count == 0, $"The '{message}' frame {frame.GetRawText()} disagrees with openapi/asyncapi.yaml:{Environment.NewLine}" +
                                       string.Join(Environment.NewLine, errors));
    }

    private static string JsonSchemaNameOf(JsonNode message)
    {
        var json = message["headers"] ?? message["payload"];
        var reference = json?["$ref"]?.GetValue<string>() ?? throw new InvalidDataException($"Message {message.ToJsonString()} has no schema $ref.");
        const string prefix = "#/components/schemas/";
        Assert.StartsWith(prefix, reference);
        return reference[prefix.Length..];
    }

    private static JsonSchema Compile(string schemaName, JsonObject schemas, bool closed)
    {
        var defs = (JsonObject)schemas.DeepClone();
        if (closed)
        {
            var target = (JsonObject)defs[schemaName]!;
            target["additionalProperties"] ??= false;
        }
        var root = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$ref"] = $"#/$defs/{schemaName}",
            ["$defs"] = defs,
        };
        var options = new BuildOptions { SchemaRegistry = new SchemaRegistry() };
        return JsonSchema.Build(JsonSerializer.SerializeToElement(root), options,
            new Uri($"urn:gateway:test:asyncapi:{schemaName}:{(closed ? "closed" : "open")}"));
    }

    // The document's references point into components/schemas; the compiled schema keeps them under $defs.
    private static void RewriteRefs(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                if (o["$ref"] is JsonValue v && v.GetValue<string>().StartsWith("#/components/schemas/", StringComparison.Ordinal))
                    o["$ref"] = "#/$defs/" + v.GetValue<string>()["#/components/schemas/".Length..];
                foreach (var (_, child) in o.ToList()) RewriteRefs(child);
                break;
            case JsonArray a:
                foreach (var child in a) RewriteRefs(child);
                break;
        }
    }

    /// <summary>YAML to JSON, plain scalars resolved by the YAML 1.2 core schema (null, booleans, numbers), quoted ones strings.</summary>
    private static JsonObject ToJson(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return (JsonObject)ToNode(stream.Documents.Single().RootNode)!;
    }

    private static JsonNode? ToNode(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value!, ToNode(kv.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(ToNode).ToArray()),
        YamlScalarNode { Style: ScalarStyle.Plain } scalar => Plain(scalar.Value ?? ""),
        YamlScalarNode scalar => JsonValue.Create(scalar.Value),
        _ => throw new InvalidDataException($"Unsupported YAML node {node.NodeType} at {node.Start}."),
    };

    private static JsonNode? Plain(string value)
    {
        if (value is "" or "~" or "null" or "Null" or "NULL") return null;
        if (value is "true" or "True" or "TRUE") return JsonValue.Create(true);
        if (value is "false" or "False" or "FALSE") return JsonValue.Create(false);
        if (IntegerPattern().IsMatch(value)) return JsonValue.Create(long.Parse(value, CultureInfo.InvariantCulture));
        if (FloatPattern().IsMatch(value)) return JsonValue.Create(double.Parse(value, CultureInfo.InvariantCulture));
        return JsonValue.Create(value);
    }

    [GeneratedRegex("^[-+]?[0-9]+$")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();
}
