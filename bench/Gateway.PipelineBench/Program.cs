using System.Net.Http.Headers;
using System.Text;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Gateway.PipelineBench;

public static class Entry
{
    public static async Task Main(string[] args)
    {
        if (args is ["--alloc-profile-kestrel", ..])
            await KestrelProfile.RunAsync(args.Length > 1 ? int.Parse(args[1]) : 200_000);
        else if (args is ["--alloc-profile", var scenario, ..])
            await AllocationProfile.RunAsync(scenario, args.Length > 2 ? int.Parse(args[2]) : 200_000);
        else
            BenchmarkSwitcher.FromAssembly(typeof(PublishPipeline).Assembly).Run(args);
    }
}

/// <summary>
/// One request through the gateway's whole pipeline (authentication, authorization, rate limiting, metrics, the
/// endpoint, the engine) on the in-memory test server, with everything on as by default. <see cref="Floor"/> is an
/// anonymous GET of /healthz through the same server and client: what the test host and HttpClient cost by themselves.
/// Usage: <c>dotnet run -c Release --project bench/Gateway.PipelineBench -- --filter '*'</c>.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 10)]
public class PublishPipeline
{
    private const string Key = "gw_benchadminkey.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    private WebApplicationFactory<global::Program> _factory = null!;
    private HttpClient _client = null!;
    private string _data = "";
    private static readonly byte[] Transient = Encoding.UTF8.GetBytes("""{"routingKey":"bench","payload":"0123456789abcdef"}""");

    [GlobalSetup]
    public void Setup()
    {
        _data = Directory.CreateTempSubdirectory("gateway-pipeline-").FullName;
        _factory = new WebApplicationFactory<global::Program>().WithWebHostBuilder(b => b
            .UseContentRoot(Path.Combine(AppContext.BaseDirectory))
            .UseSetting("Gateway:DataPath", _data)
            .UseSetting("Gateway:Auth:BootstrapKey", Key)
            .UseSetting("Gateway:Amqp:Enabled", "false")
            .UseSetting("Logging:LogLevel:Default", "Warning")
            .ConfigureServices(services => services.AddSingleton<IStartupFilter, TrivialPostFilter>()));
        _client = _factory.CreateClient();
        _client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        using var declared = _client.PutAsync("api/vhosts/default/queues/bench",
            new StringContent("""{"durable":false,"arguments":{"x-max-length":1000}}""", Encoding.UTF8, "application/json")).GetAwaiter().GetResult();
        declared.EnsureSuccessStatusCode();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.Dispose();
        _factory.Dispose();
        Directory.Delete(_data, recursive: true);
    }

    [Benchmark(Baseline = true)]
    public async Task<int> Floor()
    {
        using var response = await _client.GetAsync("healthz");
        return (int)response.StatusCode;
    }

    /// <summary>
    /// The same POST and body answered 202 before the gateway's pipeline, reading nothing: bench/Gateway.Baseline's
    /// trivial POST in this host. Publish − this = what the gateway itself allocates per publish.
    /// </summary>
    [Benchmark]
    public async Task<int> TrivialPost()
    {
        using var content = new ByteArrayContent(Transient);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await _client.PostAsync(TrivialPostFilter.Path, content);
        if ((int)response.StatusCode != 202) throw new InvalidOperationException($"trivial POST answered {(int)response.StatusCode}");
        return (int)response.StatusCode;
    }

    [Benchmark]
    public async Task<int> SingleTransientPublish()
    {
        using var content = new ByteArrayContent(Transient);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await _client.PostAsync("api/vhosts/default/exchanges/amq.default/publish", content);
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"publish answered {(int)response.StatusCode}");
        return (int)response.StatusCode;
    }
}

/// <summary>Answers <see cref="Path"/> with 202 ahead of everything the gateway adds to the pipeline.</summary>
internal sealed class TrivialPostFilter : IStartupFilter
{
    public const string Path = "/bench/trivial";

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextMiddleware) =>
        {
            if (!context.Request.Path.Equals(Path, StringComparison.Ordinal)) return nextMiddleware(context);
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            return Task.CompletedTask;
        });
        next(app);
    };
}
