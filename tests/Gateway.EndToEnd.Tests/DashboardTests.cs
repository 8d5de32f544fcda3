using System.Net;

namespace Gateway.EndToEnd.Tests;

/// <summary>The built server, started from the repository as the README says, serves the dashboard's files.</summary>
public sealed class DashboardTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_built_server_serves_the_dashboard_from_its_build_output()
    {
        await using var gateway = await GatewayProcess.StartAsync(output);

        var page = await gateway.Http.GetAsync("/");
        var module = await gateway.Http.GetAsync("js/app.js");

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("js/app.js", await page.Content.ReadAsStringAsync());
        Assert.True(page.Headers.Contains("Content-Security-Policy"));
        Assert.Equal(HttpStatusCode.OK, module.StatusCode);
        Assert.Contains("showSignIn", await module.Content.ReadAsStringAsync());
    }
}
