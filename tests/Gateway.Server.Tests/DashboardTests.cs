using System.Net;

namespace Gateway.Server.Tests;

/// <summary>The dashboard's files at <c>/</c>, with security headers, beside an undisturbed API, OpenAPI document and Swagger UI.</summary>
public sealed class DashboardTests(GatewayFactory factory) : IClassFixture<GatewayFactory>
{
    private readonly HttpClient _client = factory.CreateClient();

    [Fact]
    public async Task The_root_serves_the_dashboard_page_that_loads_its_module()
    {
        var response = await _client.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("<script type=\"module\" src=\"js/app.js\"></script>", html);
        Assert.Contains("<link rel=\"stylesheet\" href=\"css/dashboard.css\">", html);
    }

    [Theory]
    [InlineData("/", "text/html")]
    [InlineData("/index.html", "text/html")]
    [InlineData("/js/app.js", "text/javascript")]
    [InlineData("/js/views/messages.js", "text/javascript")]
    [InlineData("/css/dashboard.css", "text/css")]
    [InlineData("/favicon.svg", "image/svg+xml")]
    public async Task Dashboard_files_carry_the_security_headers(string path, string mediaType)
    {
        var response = await _client.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        var csp = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", csp);
        Assert.Contains("style-src 'self'", csp);
        Assert.Contains("connect-src 'self'", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.DoesNotContain("unsafe-inline", csp);
        Assert.DoesNotContain("unsafe-eval", csp);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("no-referrer", Assert.Single(response.Headers.GetValues("Referrer-Policy")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
    }

    [Fact]
    public async Task The_dashboard_page_has_no_inline_script_or_style_the_policy_would_block()
    {
        var html = await _client.GetStringAsync("/");

        Assert.DoesNotMatch("<script(?![^>]*\\ssrc=)[^>]*>", html);
        Assert.DoesNotContain("<style", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(" style=", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(" onclick=", html, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("/api/vhosts", "application/json")]
    [InlineData("/openapi/v1.json", "application/json")]
    [InlineData("/swagger/index.html", "text/html")]
    [InlineData("/healthz", "application/json")]
    public async Task The_API_the_document_and_swagger_are_served_as_before_without_the_dashboard_policy(string path, string mediaType)
    {
        var response = await _client.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        // Swagger UI runs inline scripts: the dashboard's policy must not reach it.
        Assert.False(response.Headers.Contains("Content-Security-Policy"));
    }

    [Theory]
    [InlineData("/nothing-here.js")]
    [InlineData("/api/nothing-here")]
    public async Task Unknown_paths_answer_a_404_problem_not_the_dashboard(string path)
    {
        var response = await _client.GetAsync(path);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_file_that_did_not_change_answers_304_to_a_revalidation()
    {
        var first = await _client.GetAsync("/js/app.js");
        Assert.Equal("no-cache", first.Headers.CacheControl?.ToString());
        var etag = first.Headers.ETag ?? throw new InvalidOperationException("no ETag");

        using var revalidate = new HttpRequestMessage(HttpMethod.Get, "/js/app.js");
        revalidate.Headers.IfNoneMatch.Add(etag);
        var second = await _client.SendAsync(revalidate);

        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
    }
}

/// <summary>With authentication on, the dashboard and the API's documents stay public shells; the data behind them needs a key.</summary>
public sealed class DashboardAuthenticationTests(SecuredGateway factory) : IClassFixture<SecuredGateway>
{
    private readonly HttpClient _anonymous = factory.CreateClient();

    [Theory]
    [InlineData("/")]
    [InlineData("/js/app.js")]
    [InlineData("/css/dashboard.css")]
    [InlineData("/openapi/v1.json")]
    [InlineData("/swagger/index.html")]
    public async Task Public_shells_are_served_without_a_key(string path)
    {
        var response = await _anonymous.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task The_API_behind_the_dashboard_needs_a_key()
    {
        var anonymous = await _anonymous.GetAsync("/api/vhosts");
        var signedIn = await factory.CreateAdminClient().GetAsync("/api/vhosts");

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.OK, signedIn.StatusCode);
    }
}
