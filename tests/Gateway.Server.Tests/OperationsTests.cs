using System.Net;

namespace Gateway.Server.Tests;

public sealed class OperationsTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    private readonly HttpClient _client = factory.CreateClient();

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task Health_endpoints_answer_200_once_started(string path)
    {
        var response = await _client.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task The_swagger_page_serves_the_interactive_UI_for_the_v1_document()
    {
        var response = await _client.GetAsync("/swagger/index.html");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("swagger-ui", html, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task The_swagger_UI_is_configured_with_the_v1_document()
    {
        var response = await _client.GetAsync("/swagger/index.js");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("/openapi/v1.json", await response.Content.ReadAsStringAsync());
    }
}
