using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Gateway.EndToEnd.Tests;

/// <summary>The JSON console log option: one JSON object a line, request ids in scopes, never a message payload.</summary>
public sealed class LoggingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task JSON_logs_carry_request_ids_and_no_payloads()
    {
        await using var gateway = await GatewayProcess.StartAsync(output, environment: new Dictionary<string, string>
        {
            ["Logging__Console__FormatterName"] = "json",
            ["Logging__LogLevel__Default"] = "Information",
        });
        var secret = $"secret-payload-{Guid.NewGuid():N}";
        var http = gateway.Http;
        Assert.Equal(HttpStatusCode.Created, await gateway.Api.DeclareQueueAsync("q"));
        await gateway.Api.PublishAsync("amq.default", new PublishEnvelope("q", secret, MessageProperties.Persistent));
        await http.PostAsJsonAsync("api/vhosts/default/exchanges/amq.default/publish", new { routingKey = "q", payload = secret, payloadEncoding = "base64" });
        await http.PostAsJsonAsync("api/vhosts/default/exchanges/nowhere/publish", new { routingKey = "q", payload = secret });
        await gateway.Api.DrainAsync("q");
        // An import logs inside its request.
        var import = await http.PostAsJsonAsync("api/definitions", new { vhosts = new[] { new { name = "logged" } } });
        Assert.Equal(HttpStatusCode.OK, import.StatusCode);
        await gateway.StopAsync();

        var lines = gateway.AllOutput;
        Assert.DoesNotContain(lines, line => line.Contains(secret, StringComparison.Ordinal));
        var entries = lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.NotEmpty(entries);
        var imported = entries.Single(e => e.GetProperty("EventId").GetInt32() == 4000);
        var scope = imported.GetProperty("Scopes").EnumerateArray().Single(s => s.TryGetProperty("RequestId", out _));
        Assert.Equal("/api/definitions", scope.GetProperty("RequestPath").GetString());
        Assert.False(string.IsNullOrEmpty(scope.GetProperty("RequestId").GetString()));
    }
}
