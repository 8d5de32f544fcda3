using System.Net;
using System.Text.Json.Nodes;

namespace Gateway.Server.Tests;

public sealed class OpenApiTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

    private readonly HttpClient _client = factory.CreateClient();

    private async Task<JsonNode> ServedDocumentAsync()
    {
        var response = await _client.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    private static List<(string Path, string Method, JsonObject Operation)> Operations(JsonNode document) =>
        document["paths"]!.AsObject()
            .SelectMany(path => path.Value!.AsObject()
                .Where(op => Methods.Contains(op.Key))
                .Select(op => (path.Key, op.Key, op.Value!.AsObject())))
            .ToList();

    [Fact]
    public async Task The_served_document_equals_the_committed_copy()
    {
        var committedPath = Path.Combine(RepositoryPaths.Root, "openapi", "v1.json");
        var committed = JsonNode.Parse(await File.ReadAllTextAsync(committedPath))!.AsObject();

        var served = (await ServedDocumentAsync()).AsObject();

        // The served copy names the server it was fetched from (the request's origin); the build-time copy cannot, and
        // names "/" (the host serving the document) instead.
        served.Remove("servers");
        committed.Remove("servers");
        Assert.True(JsonNode.DeepEquals(committed, served),
            $"GET /openapi/v1.json differs from {committedPath}; rebuild src/Gateway.Server (it regenerates the file) and commit it.");
    }

    [Fact]
    public async Task The_served_document_names_the_server_it_was_fetched_from()
    {
        var served = await ServedDocumentAsync();

        var url = Assert.Single(served["servers"]!.AsArray())!["url"]!.GetValue<string>();
        Assert.Equal(_client.BaseAddress!.GetLeftPart(UriPartial.Authority), url.TrimEnd('/'));
    }

    [Fact]
    public async Task The_committed_document_names_the_host_serving_it_as_its_server()
    {
        var committed = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(RepositoryPaths.Root, "openapi", "v1.json")))!;

        var url = Assert.Single(committed["servers"]!.AsArray())!["url"]!.GetValue<string>();
        Assert.Equal("/", url);
    }

    [Fact]
    public async Task The_document_declares_the_bearer_API_key_scheme_for_every_operation()
    {
        var served = await ServedDocumentAsync();

        var scheme = served["components"]!["securitySchemes"]!["bearer"]!;
        Assert.Equal("http", scheme["type"]!.GetValue<string>());
        Assert.Equal("bearer", scheme["scheme"]!.GetValue<string>());
        var requirements = served["security"]!.AsArray();
        Assert.Contains(requirements, r => r!.AsObject().ContainsKey("bearer"));
    }

    [Fact]
    public async Task Every_tag_has_a_description()
    {
        var served = await ServedDocumentAsync();

        var tags = served["tags"]!.AsArray();
        Assert.NotEmpty(tags);
        Assert.All(tags, t => Assert.False(string.IsNullOrWhiteSpace(t!["description"]?.GetValue<string>()), $"tag {t!["name"]} has no description: add one to GatewayDocument.TagDescriptions"));
    }

    [Fact]
    public async Task The_document_is_OpenAPI_3_1()
    {
        var served = await ServedDocumentAsync();

        Assert.StartsWith("3.1", served["openapi"]!.GetValue<string>());
    }

    [Fact]
    public async Task Every_operation_has_an_operationId()
    {
        var operations = Operations(await ServedDocumentAsync());

        Assert.NotEmpty(operations);
        var missing = operations.Where(o => string.IsNullOrWhiteSpace(o.Operation["operationId"]?.GetValue<string>())).Select(o => $"{o.Method.ToUpperInvariant()} {o.Path}");
        Assert.Empty(missing);
    }

    [Fact]
    public async Task OperationIds_are_unique()
    {
        var operations = Operations(await ServedDocumentAsync());

        var duplicates = operations.GroupBy(o => o.Operation["operationId"]?.GetValue<string>()).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(o => $"{o.Method.ToUpperInvariant()} {o.Path}"))}");
        Assert.Empty(duplicates);
    }

    [Theory]
    [InlineData("put", "/api/vhosts/{vhost}")]
    [InlineData("put", "/api/vhosts/{vhost}/exchanges/{exchange}")]
    [InlineData("post", "/api/vhosts/{vhost}/queues")]
    [InlineData("delete", "/api/vhosts/{vhost}/queues/{queue}/messages")]
    [InlineData("delete", "/api/vhosts/{vhost}/bindings/{id}")]
    [InlineData("post", "/api/vhosts/{vhost}/exchanges/{exchange}/publish/batch")]
    [InlineData("post", "/api/vhosts/{vhost}/exchanges/{exchange}/messages")]
    [InlineData("post", "/api/vhosts/{vhost}/queues/{queue}/get")]
    [InlineData("post", "/api/vhosts/{vhost}/queues/{queue}/extend")]
    [InlineData("post", "/api/vhosts/{vhost}/queues/{queue}/messages/next")]
    public async Task The_document_describes_the_contracts_paths(string method, string path)
    {
        var operations = Operations(await ServedDocumentAsync());

        Assert.Contains(operations, o => o.Path == path && o.Method == method);
    }
}
