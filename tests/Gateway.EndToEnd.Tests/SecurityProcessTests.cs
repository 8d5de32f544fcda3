using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// The bootstrap administrator, with the real server process and its real data folder: the first start with an empty
/// database and no configured key generates one, prints it and writes it owner-only; a configured key is used as is;
/// later starts create nobody; authentication off says so in the log.
/// </summary>
public sealed class SecurityProcessTests(ITestOutputHelper output)
{
    private const string KeyFile = "bootstrap-admin.key";

    private static readonly Dictionary<string, string> AuthenticationOn = new() { ["Gateway:Auth:Enabled"] = "true" };

    private static async Task<JsonElement> WhoAmIAsync(HttpClient http)
    {
        using var response = await http.GetAsync("api/auth/whoami");
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"whoami answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task The_first_start_without_a_configured_key_generates_one_prints_it_and_writes_it_for_the_owner_only()
    {
        await using var gateway = await GatewayProcess.StartAsync(output, settings: AuthenticationOn);
        var path = Path.Combine(gateway.DataPath, KeyFile);

        Assert.True(File.Exists(path), $"No {path}.");
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var key = (await File.ReadAllTextAsync(path)).Trim();
        Assert.Matches("^gw_[a-z2-7]{12}\\.[A-Za-z0-9_-]{43}$", key);
        Assert.Contains(gateway.AllOutput, line => line.Trim().EndsWith(key, StringComparison.Ordinal)); // printed once, to the console

        Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.Http.GetAsync("api/vhosts")).StatusCode);
        gateway.ApiKey = key;
        var me = await WhoAmIAsync(gateway.Http);
        Assert.Equal("admin", me.GetProperty("user").GetString());
        Assert.Contains("administrator", me.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.GetAsync("api/vhosts/default/queues")).StatusCode);
    }

    [Fact]
    public async Task A_second_start_creates_no_other_administrator_and_leaves_the_key_file_alone()
    {
        await using var gateway = await GatewayProcess.StartAsync(output, settings: AuthenticationOn);
        var path = Path.Combine(gateway.DataPath, KeyFile);
        var key = (await File.ReadAllTextAsync(path)).Trim();
        var written = File.GetLastWriteTimeUtc(path);
        gateway.ApiKey = key;

        await gateway.StopAsync();
        await gateway.RestartAsync();

        Assert.Equal(key, (await File.ReadAllTextAsync(path)).Trim());
        Assert.Equal(written, File.GetLastWriteTimeUtc(path));
        Assert.Single(gateway.AllOutput, line => line.Contains("Its API key (shown once", StringComparison.Ordinal));
        var users = await gateway.Http.GetFromJsonAsync<List<JsonElement>>("api/users");
        Assert.Equal(["admin"], users!.Select(u => u.GetProperty("name").GetString()));
        var keys = await gateway.Http.GetFromJsonAsync<List<JsonElement>>("api/users/admin/keys");
        Assert.Single(keys!);
    }

    [Fact]
    public async Task A_configured_bootstrap_key_is_the_administrators_and_is_neither_printed_nor_written()
    {
        const string configured = "a-configured-bootstrap-key-of-more-than-32-characters";
        await using var gateway = await GatewayProcess.StartAsync(output,
            settings: new Dictionary<string, string>(AuthenticationOn) { ["Gateway:Auth:BootstrapKey"] = configured });

        Assert.False(File.Exists(Path.Combine(gateway.DataPath, KeyFile)));
        Assert.DoesNotContain(gateway.AllOutput, line => line.Contains(configured, StringComparison.Ordinal));
        gateway.ApiKey = configured;
        Assert.Equal("admin", (await WhoAmIAsync(gateway.Http)).GetProperty("user").GetString());
        gateway.ApiKey = configured + "x";
        Assert.Equal(HttpStatusCode.Unauthorized, (await gateway.Http.GetAsync("api/auth/whoami")).StatusCode);
    }

    [Fact]
    public async Task With_authentication_off_the_server_logs_a_warning_and_asks_for_no_key()
    {
        await using var gateway = await GatewayProcess.StartAsync(output); // the harness's default: off

        Assert.Contains(gateway.AllOutput, line => line.Contains("Authentication is OFF", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, (await gateway.Http.GetAsync("api/vhosts")).StatusCode);
        var me = await WhoAmIAsync(gateway.Http);
        Assert.False(me.GetProperty("authenticationEnabled").GetBoolean());
    }

    [Fact]
    public async Task With_authentication_on_no_warning_is_logged()
    {
        await using var gateway = await GatewayProcess.StartAsync(output, settings: AuthenticationOn);

        Assert.DoesNotContain(gateway.AllOutput, line => line.Contains("Authentication is OFF", StringComparison.Ordinal));
    }
}
