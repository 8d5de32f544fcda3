using System.Net;
using System.Text.Json;

namespace Gateway.Server.Tests;

/// <summary>/healthz and /readyz through ASP.NET Core health checks.</summary>
public sealed class HealthTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    private readonly HttpClient _client = factory.CreateClient();

    [Fact]
    public async Task Readiness_reports_storage_and_recovery_checks()
    {
        var response = await _client.GetAsync("/readyz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("Healthy", json.RootElement.GetProperty("status").GetString());
        var checks = json.RootElement.GetProperty("checks");
        Assert.Equal("Healthy", checks.GetProperty("recovery").GetProperty("status").GetString());
        var storage = checks.GetProperty("storage");
        Assert.Equal("Healthy", storage.GetProperty("status").GetString());
        Assert.Contains(factory.DataPath, storage.GetProperty("description").GetString());
    }

    [Fact]
    public async Task Liveness_runs_no_check()
    {
        var response = await _client.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("Healthy", json.RootElement.GetProperty("status").GetString());
        Assert.Empty(json.RootElement.GetProperty("checks").EnumerateObject());
    }
}
