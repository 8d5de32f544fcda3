using System.Net;
using System.Net.Http.Json;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// Settings of the built server: invalid ones stop the start with a message naming the setting and a non-zero exit;
/// environment variables and the command line override appsettings.json.
/// </summary>
public sealed class ConfigurationTests(ITestOutputHelper output)
{
    private static Dictionary<string, string> Environment(params (string Name, string Value)[] settings)
    {
        var environment = new Dictionary<string, string> { ["Gateway__DataPath"] = Directory.CreateTempSubdirectory("gateway-config-").FullName };
        foreach (var (name, value) in settings) environment[name] = value;
        return environment;
    }

    private static string[] Arguments(params string[] more) => ["--urls", $"http://127.0.0.1:{GatewayProcess.FreeLoopbackPort()}", .. more];

    [Theory]
    [InlineData("Gateway__Limits__MaxMessageBytes", "0", "Gateway:Limits:MaxMessageBytes must be positive")]
    [InlineData("Gateway__Webhooks__AllowedNetworks__0", "intranet", "Gateway:Webhooks:AllowedNetworks")]
    [InlineData("Gateway__Webhooks__MaxResponseBodyBytes", "-1", "Gateway:Webhooks:MaxResponseBodyBytes")]
    [InlineData("Gateway__Webhooks__RecentFailures", "5000", "Gateway:Webhooks:RecentFailures")]
    [InlineData("Gateway__Limits__MemoryHighWatermarkFraction", "2", "Gateway:Limits:MemoryHighWatermarkFraction")]
    [InlineData("Gateway__Auth__TicketSeconds", "0", "Gateway:Auth:TicketSeconds")]
    [InlineData("Gateway__Limits__MaxRequestBodyBytes", "10", "Gateway:Limits:MaxRequestBodyBytes must be at least")]
    [InlineData("Gateway__Statistics__SampleIntervalMilliseconds", "5", "Gateway:Statistics:SampleIntervalMilliseconds must be between 100 and 60000")]
    [InlineData("Gateway__Statistics__RateWindowSeconds", "0", "Gateway:Statistics:RateWindowSeconds must be between")]
    [InlineData("Gateway__Shutdown__TimeoutSeconds", "0", "Gateway:Shutdown:TimeoutSeconds must be between 1 and 600")]
    [InlineData("Gateway__Shutdown__TimeoutSeconds", "ten", "Gateway:Shutdown:TimeoutSeconds")]
    [InlineData("Gateway__Storage__Synchronous", "Sometimes", "Gateway:Storage:Synchronous")]
    [InlineData("Gateway__Storage__FileName", "sub/gateway.db", "Gateway:Storage:FileName must be a file name")]
    [InlineData("Gateway__Limits__MaxMesageBytes", "10", "Unknown setting Gateway:Limits:MaxMesageBytes")]
    [InlineData("Gateway__Definitions__File", "/nonexistent/definitions.json", "Gateway:Definitions:File (--definitions) names a file that does not exist")]
    [InlineData("Gateway__Backend", "Kafka", "Gateway:Backend must be Embedded or RabbitMq")]
    [InlineData("Gateway__Storage__Provider", "Oracle", "Gateway:Storage:Provider")]
    [InlineData("Gateway__Storage__Provider", "PostgreSql", "Gateway:Storage:ConnectionString is required when Gateway:Storage:Provider is PostgreSql")]
    [InlineData("Gateway__RabbitMq__Uri", "amqp://localhost/", "Unknown setting Gateway:RabbitMq:Uri")]
    [InlineData("Gateway__Amqp__Port", "70000", "Gateway:Amqp:Port must be from 0 to 65535")]
    [InlineData("Gateway__Amqp__FrameMax", "1024", "Gateway:Amqp:FrameMax must be at least 4096")]
    [InlineData("Gateway__Amqp__Address", "everywhere", "Gateway:Amqp:Address must be an IP address")]
    [InlineData("Gateway__Amqp__HeartbeatSeconds", "-1", "Gateway:Amqp:HeartbeatSeconds must be from 0 to 65535")]
    [InlineData("Gateway__Amqp__Enabled", "maybe", "Gateway:Amqp:Enabled")]
    [InlineData("Gateway__Amqp__Prot", "5672", "Unknown setting Gateway:Amqp:Prot")]
    public async Task An_invalid_setting_stops_the_start_naming_the_setting(string variable, string value, string message)
    {
        var exited = await GatewayProcess.RunToExitAsync(Arguments(), Environment((variable, value)));
        output.WriteLine($"exit {exited.ExitCode}{System.Environment.NewLine}{exited.StandardError}");

        Assert.NotEqual(0, exited.ExitCode);
        Assert.Contains("Gateway cannot start: ", exited.StandardError);
        Assert.Contains(message, exited.StandardError);
    }

    [Theory]
    [InlineData("Gateway__RabbitMq__Uris__0", "http://rabbit:5672/", "Gateway:RabbitMq:Uris")]
    [InlineData("Gateway__RabbitMq__ChannelPoolSize", "0", "Gateway:RabbitMq:ChannelPoolSize")]
    public async Task With_the_RabbitMq_backend_its_settings_are_validated_at_start(string variable, string value, string message)
    {
        var exited = await GatewayProcess.RunToExitAsync(Arguments(), Environment(("Gateway__Backend", "RabbitMq"), (variable, value)));
        output.WriteLine($"exit {exited.ExitCode}{System.Environment.NewLine}{exited.StandardError}");

        Assert.NotEqual(0, exited.ExitCode);
        Assert.Contains("Gateway cannot start: ", exited.StandardError);
        Assert.Contains(message, exited.StandardError);
    }

    [Fact]
    public async Task An_AMQP_port_in_use_stops_the_start_naming_the_setting()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var exited = await GatewayProcess.RunToExitAsync(Arguments(), Environment(("Gateway__Amqp__Port", port)));
        output.WriteLine($"exit {exited.ExitCode}{System.Environment.NewLine}{exited.StandardError}");

        Assert.NotEqual(0, exited.ExitCode);
        Assert.Contains("Gateway cannot start: ", exited.StandardError);
        Assert.Contains($"could not bind 127.0.0.1:{port}", exited.StandardError);
        Assert.Contains("Gateway:Amqp:Port", exited.StandardError);
    }

    [Fact]
    public async Task A_PostgreSql_connection_string_without_a_host_stops_the_start()
    {
        var exited = await GatewayProcess.RunToExitAsync(Arguments(),
            Environment(("Gateway__Storage__Provider", "PostgreSql"), ("Gateway__Storage__ConnectionString", "Database=gateway")));

        Assert.NotEqual(0, exited.ExitCode);
        Assert.Contains("Gateway:Storage:ConnectionString must be a PostgreSQL connection string naming the server", exited.StandardError);
    }

    [Fact]
    public async Task A_command_line_setting_is_validated_like_the_others()
    {
        var exited = await GatewayProcess.RunToExitAsync(Arguments("--Gateway:Limits:MaxBatchMessages=0"), Environment());

        Assert.NotEqual(0, exited.ExitCode);
        Assert.Contains("Gateway:Limits:MaxBatchMessages must be positive", exited.StandardError);
    }

    [Fact]
    public async Task Environment_and_command_line_override_appsettings()
    {
        await using var gateway = await GatewayProcess.StartAsync(output,
            arguments: ["--Gateway:Limits:MaxMessageBytes=16"],
            environment: new Dictionary<string, string> { ["Gateway__Limits__MaxBatchMessages"] = "2" });
        var http = gateway.Http;
        Assert.Equal(HttpStatusCode.Created, await gateway.Api.DeclareQueueAsync("q"));

        var fits = await http.PostAsJsonAsync("api/vhosts/default/exchanges/amq.default/publish", new { routingKey = "q", payload = new string('x', 16) });
        var tooBig = await http.PostAsJsonAsync("api/vhosts/default/exchanges/amq.default/publish", new { routingKey = "q", payload = new string('x', 17) });
        var batch = await http.PostAsJsonAsync("api/vhosts/default/exchanges/amq.default/publish/batch",
            new { messages = new[] { new { routingKey = "q", payload = "1" }, new { routingKey = "q", payload = "2" }, new { routingKey = "q", payload = "3" } } });

        Assert.Equal(HttpStatusCode.OK, fits.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, batch.StatusCode);
    }

    [Fact]
    public async Task The_probe_command_answers_0_for_a_healthy_gateway_and_1_when_none_answers()
    {
        await using var gateway = await GatewayProcess.StartAsync(output);

        var healthy = await GatewayProcess.RunToExitAsync(["probe", new Uri(gateway.BaseAddress, "healthz").ToString()]);
        var nobody = await GatewayProcess.RunToExitAsync(["probe", $"http://127.0.0.1:{GatewayProcess.FreeLoopbackPort()}/healthz"]);

        Assert.Equal(0, healthy.ExitCode);
        Assert.Equal(1, nobody.ExitCode);
    }
}
