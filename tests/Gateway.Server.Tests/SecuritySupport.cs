using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Gateway.Server.Tests;

internal sealed record ApiUser(string Name, List<string> Tags, DateTimeOffset CreatedAt);

internal sealed record ApiKeyInfo(string Id, string User, string? Description, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt);

internal sealed record ApiCreatedKey(ApiKeyInfo Info, string Key);

internal sealed record ApiPermission(string User, string Vhost, string Configure, string Write, string Read);

internal sealed record ApiTicket(string Ticket, DateTimeOffset ExpiresAt);

internal sealed record ApiWhoAmI(string? User, List<string> Tags, string? KeyId, bool AuthenticationEnabled);

/// <summary>URLs of the users, keys, permissions and tickets API.</summary>
internal static class SecurityUrls
{
    public const string Users = "/api/users";
    public const string Tickets = "/api/auth/tickets";
    public const string WhoAmI = "/api/auth/whoami";

    public static string User(string user) => $"{Users}/{E(user)}";
    public static string Keys(string user) => $"{User(user)}/keys";
    public static string Key(string user, string id) => $"{Keys(user)}/{E(id)}";
    public static string Permissions(string vhost) => $"{Urls.Vhost(vhost)}/permissions";
    public static string Permission(string vhost, string user) => $"{Permissions(vhost)}/{E(user)}";

    private static string E(string segment) => Uri.EscapeDataString(segment);
}

/// <summary>
/// Arrangement steps of the security tests, run with the administrator's client: users, keys and permissions. Each
/// asserts that the server accepted the call.
/// </summary>
internal static class SecurityApi
{
    /// <summary>Creates a user with a unique name and the given tags; returns the name.</summary>
    public static async Task<string> CreateUserAsync(this HttpClient admin, params string[] tags)
    {
        var name = $"u-{Guid.NewGuid():N}";
        await admin.SendOkAsync(HttpMethod.Put, SecurityUrls.User(name), new { tags }, HttpStatusCode.Created);
        return name;
    }

    /// <summary>Creates a key for <paramref name="user"/> and returns it (the only time it is shown).</summary>
    public static async Task<ApiCreatedKey> CreateKeyAsync(this HttpClient client, string user, DateTimeOffset? expiresAt = null, string? description = null)
    {
        var response = await client.SendOkAsync(HttpMethod.Post, SecurityUrls.Keys(user), new { description, expiresAt }, HttpStatusCode.Created);
        return (await response.Content.ReadFromJsonAsync<ApiCreatedKey>(GatewayFactory.Json))!;
    }

    public static async Task SetPermissionAsync(this HttpClient admin, string vhost, string user, string configure, string write, string read)
    {
        var response = await admin.PutJsonAsync(SecurityUrls.Permission(vhost, user), new { configure, write, read });
        if (response.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.OK))
            Assert.Fail($"Setting permissions of '{user}' in '{vhost}' answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    public static async Task<ApiWhoAmI> WhoAmIAsync(this HttpClient client)
    {
        var response = await client.SendOkAsync(HttpMethod.Get, SecurityUrls.WhoAmI, body: null, HttpStatusCode.OK);
        return (await response.Content.ReadFromJsonAsync<ApiWhoAmI>(GatewayFactory.Json))!;
    }

    public static async Task<string> TicketAsync(this HttpClient client)
    {
        var response = await client.SendOkAsync(HttpMethod.Post, SecurityUrls.Tickets, body: null, HttpStatusCode.Created);
        return (await response.Content.ReadFromJsonAsync<ApiTicket>(GatewayFactory.Json))!.Ticket;
    }

    /// <summary>The value of an <c>Authorization: Basic</c> header for user and key.</summary>
    public static AuthenticationHeaderValue Basic(string user, string key) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{key}")));

    /// <summary>Asserts a 401 with the challenge header and a problem document.</summary>
    public static async Task<JsonElement> IsUnauthorizedAsync(HttpResponseMessage response)
    {
        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, "unauthenticated");
        var challenge = response.Headers.WwwAuthenticate.ToString();
        Assert.True(challenge.Contains("Bearer", StringComparison.Ordinal) && challenge.Contains("Basic", StringComparison.Ordinal),
            $"Expected a WWW-Authenticate challenge naming Bearer and Basic, got '{challenge}'.");
        return problem;
    }
}

/// <summary>A user with one key and a client that sends it, in a vhost of its own made by the administrator.</summary>
internal sealed record TestUser(string Name, string Key, HttpClient Client)
{
    /// <summary>
    /// Creates a vhost (as the administrator), a user without tags, its key, and permissions in the vhost
    /// (null: none at all).
    /// </summary>
    public static async Task<(string Vhost, TestUser User)> InNewVhostAsync(SecuredGateway gateway, HttpClient admin,
        (string Configure, string Write, string Read)? permissions)
    {
        var vhost = await admin.CreateVhostAsync();
        var user = await CreateAsync(gateway, admin);
        if (permissions is var (configure, write, read)) await admin.SetPermissionAsync(vhost, user.Name, configure, write, read);
        return (vhost, user);
    }

    public static async Task<TestUser> CreateAsync(SecuredGateway gateway, HttpClient admin, params string[] tags)
    {
        var name = await admin.CreateUserAsync(tags);
        var key = (await admin.CreateKeyAsync(name)).Key;
        return new TestUser(name, key, gateway.CreateClientWithKey(key));
    }
}

/// <summary>An open Server-Sent Events stream, read event by event (comments skipped).</summary>
internal sealed class SseStream(HttpResponseMessage response, StreamReader reader) : IDisposable
{
    public sealed record Event(string? Id, string Name, JsonElement Data);

    public HttpResponseMessage Response { get; } = response;

    public static async Task<SseStream> OpenAsync(HttpClient client, string url)
    {
        var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, url), HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode != HttpStatusCode.OK)
            Assert.Fail($"GET {url} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return new SseStream(response, new StreamReader(await response.Content.ReadAsStreamAsync()));
    }

    /// <summary>The next event; fails after <see cref="Eventually.Deadline"/> or when the stream ends first.</summary>
    public async Task<Event> NextAsync()
    {
        using var timeout = new CancellationTokenSource(Eventually.Deadline);
        string? id = null, name = null, data = null;
        while (true)
        {
            var line = await reader.ReadLineAsync(timeout.Token) ?? throw new EndOfStreamException("The event stream ended.");
            if (line.Length == 0)
            {
                if (name is not null) return new Event(id, name, JsonDocument.Parse(data ?? "null").RootElement.Clone());
                continue;
            }
            if (line.StartsWith(':')) continue;
            var colon = line.IndexOf(':');
            var value = line[(colon + 1)..].TrimStart(' ');
            switch (line[..colon])
            {
                case "id": id = value; break;
                case "event": name = value; break;
                case "data": data = value; break;
            }
        }
    }

    /// <summary>True once the server has ended the stream (reading returns end of stream).</summary>
    public async Task<bool> EndedAsync()
    {
        using var timeout = new CancellationTokenSource(Eventually.Deadline);
        while (await reader.ReadLineAsync(timeout.Token) is not null) { }
        return true;
    }

    public void Dispose()
    {
        reader.Dispose();
        Response.Dispose();
    }
}
