using System.Net.Http.Json;

namespace Gateway.EndToEnd.Tests;

/// <summary><c>--definitions FILE</c>: the file is imported after recovery, before the server reports ready.</summary>
public sealed class DefinitionsAtStartTests(ITestOutputHelper output)
{
    private static string Fixture => Path.Combine(ServerBuild.RepositoryRoot, "tests", "Gateway.Server.Tests", "Fixtures", "rabbitmq-definitions", "definitions.json");

    [Fact]
    public async Task The_definitions_file_is_imported_before_the_server_is_ready()
    {
        await using var gateway = await GatewayProcess.StartAsync(output, arguments: ["--definitions", Fixture]);

        // Ready means imported: no waiting.
        var orders = await gateway.Api.FindExchangeAsync("orders");
        Assert.True(orders is { Type: "topic", Durable: true }, $"orders: {orders}{Environment.NewLine}{gateway.RecentOutput()}");
        var carts = await gateway.Http.GetFromJsonAsync<QueueInfo>("api/vhosts/shop/queues/carts", GatewayApi.Json);
        Assert.Equal("carts", carts!.Name);
        // Items the gateway refuses are logged, not fatal: the bindings of the internal exchange RabbitMQ's export left out.
        Assert.Contains(gateway.AllOutput, line => line.Contains("binding audit -> audit-log", StringComparison.Ordinal));
        var ttl = await gateway.Http.GetFromJsonAsync<System.Text.Json.JsonElement>("api/vhosts/default/queues/with-ttl", GatewayApi.Json);
        Assert.Equal(60000, ttl.GetProperty("arguments").GetProperty("x-message-ttl").GetInt64());
    }

    [Fact]
    public async Task A_definitions_file_that_is_not_definitions_stops_the_start_with_exit_code_1()
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("gateway-definitions-").FullName, "broken.json");
        await File.WriteAllTextAsync(file, "{\"queues\": [");
        var dataPath = Directory.CreateTempSubdirectory("gateway-config-").FullName;

        var exited = await GatewayProcess.RunToExitAsync(
            ["--urls", $"http://127.0.0.1:{GatewayProcess.FreeLoopbackPort()}", "--definitions", file],
            new Dictionary<string, string> { ["Gateway__DataPath"] = dataPath });
        output.WriteLine(exited.StandardOutput + exited.StandardError);

        Assert.Equal(1, exited.ExitCode);
        Assert.Contains($"The definitions file {file} could not be imported", exited.StandardOutput + exited.StandardError);
    }
}
