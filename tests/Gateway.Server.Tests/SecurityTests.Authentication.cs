using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Routing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Server.Tests;

/// <summary>
/// Authentication with the default configuration (on): what answers without a key, Bearer and Basic, unknown, revoked
/// and expired keys, and how keys are stored.
/// </summary>
public sealed class AuthenticationTests(SecuredGateway gateway) : IClassFixture<SecuredGateway>
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch"];

    private readonly HttpClient _anonymous = gateway.CreateClient();
    private readonly HttpClient _admin = gateway.CreateAdminClient();

    [Fact]
    public async Task Every_operation_of_the_API_document_answers_401_with_a_challenge_and_a_problem_without_a_key()
    {
        var document = JsonNode.Parse(await _anonymous.GetStringAsync("/openapi/v1.json"))!;
        var operations = document["paths"]!.AsObject()
            .SelectMany(path => path.Value!.AsObject().Where(op => Methods.Contains(op.Key)).Select(op => (Path: path.Key, Method: op.Key)))
            .ToList();
        Assert.True(operations.Count >= 40, $"Expected the whole API in the document, found {operations.Count} operations.");

        foreach (var (path, method) in operations)
        {
            // Every path parameter gets a plausible value: the refusal must come before any lookup.
            var url = System.Text.RegularExpressions.Regex.Replace(path, "{[^}]+}", "default");
            using var request = new HttpRequestMessage(new HttpMethod(method.ToUpperInvariant()), url);
            if (method is "put" or "post") request.Content = JsonContent.Create(new { });

            var response = await _anonymous.SendAsync(request);

            await SecurityApi.IsUnauthorizedAsync(response);
        }
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    [InlineData("/openapi/v1.json")]
    [InlineData("/swagger/index.html")]
    public async Task Only_health_checks_and_the_API_documents_answer_without_a_key(string url)
    {
        var response = await _anonymous.GetAsync(url);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("GET", "/api/nothing/here")]
    [InlineData("DELETE", "/api/vhosts/default")]
    [InlineData("GET", "/api/vhosts/default/queues/q/events")]
    public async Task Unknown_paths_and_other_methods_answer_401_too(string method, string url)
    {
        var response = await _anonymous.SendAsync(new HttpRequestMessage(new HttpMethod(method), url));

        await SecurityApi.IsUnauthorizedAsync(response);
    }

    [Fact]
    public void No_endpoint_asks_for_an_authorization_policy_which_the_pipeline_would_not_evaluate()
    {
        // The gateway's own middleware requires a signed-in user and the endpoints check permissions (Access); ASP.NET
        // Core's authorization middleware is not in the pipeline, so a RequireAuthorization(policy) would be ignored.
        var endpoints = gateway.Services.GetRequiredService<EndpointDataSource>().Endpoints;
        Assert.True(endpoints.Count >= 40, $"Expected the whole API, found {endpoints.Count} endpoints.");
        Assert.Empty(endpoints.Where(e => e.Metadata.GetMetadata<IAuthorizeData>() is not null || e.Metadata.GetMetadata<AuthorizationPolicy>() is not null)
            .Select(e => e.DisplayName));
    }

    [Fact]
    public async Task A_bearer_key_signs_in_as_its_user()
    {
        var me = await _admin.WhoAmIAsync();

        Assert.Equal("admin", me.User);
        Assert.Contains("administrator", me.Tags);
        Assert.True(me.AuthenticationEnabled);
    }

    [Fact]
    public async Task The_bearer_scheme_name_is_case_insensitive()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, SecurityUrls.WhoAmI);
        request.Headers.TryAddWithoutValidation("Authorization", "bearer " + SecuredGateway.AdminKey);

        var response = await _anonymous.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Basic_with_the_user_name_and_its_key_signs_in()
    {
        var user = await _admin.CreateUserAsync();
        var key = (await _admin.CreateKeyAsync(user)).Key;
        using var client = gateway.CreateClient();
        client.DefaultRequestHeaders.Authorization = SecurityApi.Basic(user, key);

        var me = await client.WhoAmIAsync();

        Assert.Equal(user, me.User);
    }

    [Fact]
    public async Task Basic_with_another_users_name_answers_401()
    {
        var user = await _admin.CreateUserAsync();
        var key = (await _admin.CreateKeyAsync(user)).Key;
        using var client = gateway.CreateClient();
        client.DefaultRequestHeaders.Authorization = SecurityApi.Basic("admin", key);

        var response = await client.GetAsync(SecurityUrls.WhoAmI);

        var problem = await SecurityApi.IsUnauthorizedAsync(response);
        Assert.Contains("do not match", problem.Detail());
    }

    [Theory]
    [InlineData("not base64 at all")]
    [InlineData("bm8tY29sb24=")] // "no-colon"
    public async Task Basic_credentials_that_are_not_user_colon_key_answer_401(string credentials)
    {
        using var client = gateway.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", credentials);

        var response = await client.GetAsync(SecurityUrls.WhoAmI);

        await SecurityApi.IsUnauthorizedAsync(response);
    }

    [Theory]
    [InlineData("gw_aaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("gw_testadminkey.BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] // the administrator's id with another secret
    [InlineData("some-password-that-was-never-a-key")]
    [InlineData("")]
    public async Task An_unknown_key_answers_401(string key)
    {
        using var client = gateway.CreateClient();
        client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer " + key);

        var response = await client.GetAsync(Urls.Vhosts);

        await SecurityApi.IsUnauthorizedAsync(response);
    }

    [Fact]
    public async Task A_revoked_key_answers_401_at_once()
    {
        var user = await TestUser.CreateAsync(gateway, _admin);
        var id = (await user.Client.WhoAmIAsync()).KeyId!;
        Assert.Equal(HttpStatusCode.OK, (await user.Client.GetAsync(SecurityUrls.WhoAmI)).StatusCode);

        await _admin.SendOkAsync(HttpMethod.Delete, SecurityUrls.Key(user.Name, id), body: null, HttpStatusCode.NoContent);

        var problem = await SecurityApi.IsUnauthorizedAsync(await user.Client.GetAsync(SecurityUrls.WhoAmI));
        Assert.Contains("revoked", problem.Detail());
        var listed = await _admin.GetFromJsonAsync<List<ApiKeyInfo>>(SecurityUrls.Keys(user.Name), GatewayFactory.Json);
        Assert.NotNull(Assert.Single(listed!).RevokedAt);
    }

    [Fact]
    public async Task A_key_stops_working_when_it_expires()
    {
        var user = await _admin.CreateUserAsync();
        var expires = DateTimeOffset.UtcNow.AddSeconds(3);
        var created = await _admin.CreateKeyAsync(user, expires);
        using var client = gateway.CreateClientWithKey(created.Key);
        Assert.Equal(expires.ToUnixTimeMilliseconds(), created.Info.ExpiresAt!.Value.ToUnixTimeMilliseconds());

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(SecurityUrls.WhoAmI)).StatusCode);
        var refused = await Eventually.WaitForAsync(() => client.GetAsync(SecurityUrls.WhoAmI), r => r.StatusCode == HttpStatusCode.Unauthorized,
            "the key to expire");

        await SecurityApi.IsUnauthorizedAsync(refused);
        // Against the expiry as stored (milliseconds): `expires` has sub-millisecond ticks the key does not keep, so the
        // server may rightly refuse up to a millisecond before it.
        Assert.True(DateTimeOffset.UtcNow >= created.Info.ExpiresAt!.Value, "The key was refused before its expiry.");
    }

    [Fact]
    public async Task A_key_cannot_be_created_already_expired()
    {
        var user = await _admin.CreateUserAsync();

        var response = await _admin.PostJsonAsync(SecurityUrls.Keys(user), new { expiresAt = DateTimeOffset.UtcNow.AddMinutes(-1) });

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("expiresAt", problem.Detail());
    }

    [Fact]
    public async Task A_key_is_shown_once_and_only_the_hash_of_its_secret_is_stored()
    {
        var user = await _admin.CreateUserAsync();

        var created = await _admin.CreateKeyAsync(user, description: "ci");

        Assert.Matches("^gw_[a-z2-7]{12}\\.[A-Za-z0-9_-]{43}$", created.Key);
        Assert.Equal(created.Info.Id, created.Key[3..15]);
        // Listing never shows the key again.
        var listing = await _admin.GetStringAsync(SecurityUrls.Keys(user));
        Assert.Contains(created.Info.Id, listing);
        Assert.DoesNotContain(created.Key[16..], listing);
        // The database holds the SHA-256 of the secret and nothing from which the key could be read back.
        var secret = created.Key[16..];
        using var connection = new SqliteConnection($"Data Source={Path.Combine(gateway.DataPath, "gateway.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT * FROM api_keys WHERE Id = $id";
        command.Parameters.AddWithValue("$id", created.Info.Id);
        using var row = command.ExecuteReader();
        Assert.True(row.Read(), "The key has no row in api_keys.");
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(secret)), (byte[])row["SecretHash"]);
        for (var i = 0; i < row.FieldCount; i++)
        {
            var value = row.GetValue(i);
            var text = value is byte[] bytes ? Encoding.UTF8.GetString(bytes) + Convert.ToBase64String(bytes) : value.ToString() ?? "";
            Assert.DoesNotContain(secret, text);
        }
    }

    [Fact]
    public async Task A_revoked_key_stays_revoked_and_an_unknown_key_id_answers_404()
    {
        var user = await TestUser.CreateAsync(gateway, _admin);
        var id = (await user.Client.WhoAmIAsync()).KeyId!;

        await _admin.SendOkAsync(HttpMethod.Delete, SecurityUrls.Key(user.Name, id), body: null, HttpStatusCode.NoContent);
        var again = await _admin.DeleteAsync(SecurityUrls.Key(user.Name, id));
        var unknown = await _admin.DeleteAsync(SecurityUrls.Key(user.Name, "aaaaaaaaaaaa"));

        Assert.Equal(HttpStatusCode.NoContent, again.StatusCode);
        await ProblemAssert.IsProblemAsync(unknown, HttpStatusCode.NotFound);
        await SecurityApi.IsUnauthorizedAsync(await user.Client.GetAsync(SecurityUrls.WhoAmI));
    }

    [Fact]
    public async Task Deleting_a_user_ends_its_keys()
    {
        var user = await TestUser.CreateAsync(gateway, _admin);

        await _admin.SendOkAsync(HttpMethod.Delete, SecurityUrls.User(user.Name), body: null, HttpStatusCode.NoContent);

        await SecurityApi.IsUnauthorizedAsync(await user.Client.GetAsync(SecurityUrls.WhoAmI));
    }
}
