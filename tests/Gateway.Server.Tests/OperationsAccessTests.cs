using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Gateway.Server.Tests;

/// <summary>
/// With authentication on: the overview and metrics need the administrator, management or monitoring tag; definitions
/// the administrator tag; health checks nobody.
/// </summary>
public sealed class OperationsAccessTests(SecuredGateway gateway) : IClassFixture<SecuredGateway>
{
    private async Task<HttpClient> UserAsync(params string[] tags)
    {
        var admin = gateway.CreateAdminClient();
        var name = $"u-{Guid.NewGuid():N}";
        (await admin.PutAsJsonAsync($"/api/users/{name}", new { tags })).EnsureSuccessStatusCode();
        var created = await admin.PostAsJsonAsync($"/api/users/{name}/keys", new { description = "test" });
        created.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
        return gateway.CreateClientWithKey(json.RootElement.GetProperty("key").GetString()!);
    }

    [Theory]
    [InlineData("/api/overview")]
    [InlineData("/metrics")]
    [InlineData("/api/definitions")]
    public async Task Without_a_key_operations_answer_401(string path)
    {
        var response = await gateway.CreateClient().GetAsync(path);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task Health_checks_need_no_key(string path)
    {
        Assert.Equal(HttpStatusCode.OK, (await gateway.CreateClient().GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task A_monitoring_user_reads_the_overview_and_metrics_but_not_definitions()
    {
        var monitoring = await UserAsync("monitoring");

        Assert.Equal(HttpStatusCode.OK, (await monitoring.GetAsync("/api/overview")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await monitoring.GetAsync("/metrics")).StatusCode);
        await ProblemAssert.IsProblemAsync(await monitoring.GetAsync("/api/definitions"), HttpStatusCode.Forbidden);
        await ProblemAssert.IsProblemAsync(await monitoring.PostAsJsonAsync("/api/definitions", new { vhosts = new[] { new { name = "x" } } }),
            HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task A_user_without_tags_reads_none_of_them()
    {
        var plain = await UserAsync();

        foreach (var path in new[] { "/api/overview", "/metrics", "/api/definitions" })
            await ProblemAssert.IsProblemAsync(await plain.GetAsync(path), HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task An_administrator_exports_and_imports_definitions()
    {
        var admin = gateway.CreateAdminClient();

        var export = await admin.GetAsync("/api/definitions");
        Assert.Equal(HttpStatusCode.OK, export.StatusCode);
        var import = await admin.PostAsync("/api/definitions", new StringContent(await export.Content.ReadAsStringAsync(),
            System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, import.StatusCode);
    }
}
