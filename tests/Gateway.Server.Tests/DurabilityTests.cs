using System.Net;
using System.Net.Http.Json;
using Gateway.Server.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Server.Tests;

/// <summary>What clients see of the storage layer at the HTTP boundary: refusals while it cannot store, and while recovering.</summary>
public sealed class DurabilityTests : IDisposable
{
    private readonly GatewayFactory _root = new();
    private readonly WebApplicationFactory<Program> _factory;
    private readonly HttpClient _client;

    public DurabilityTests()
    {
        // A short busy timeout, so that a held lock turns into a storage error quickly.
        _factory = _root.WithWebHostBuilder(b => b.UseSetting("Gateway:Storage:BusyTimeoutMilliseconds", "200"));
        _client = _factory.CreateClient();
    }

    [Fact]
    public async Task A_persistent_publish_the_database_cannot_store_answers_503_and_the_gateway_keeps_serving()
    {
        var vhost = await _client.CreateVhostAsync();
        (await _client.PutAsync(Urls.Queue(vhost, "durable"), null)).EnsureSuccessStatusCode();
        var persistent = new { routingKey = "durable", payload = "kept?", properties = new { deliveryMode = 2 } };

        using (var holder = new SqliteConnection($"Data Source={Path.Combine(_root.DataPath, "gateway.db")};Pooling=False"))
        {
            holder.Open();
            using (var exclusive = holder.CreateCommand())
            {
                exclusive.CommandText = "BEGIN EXCLUSIVE";
                exclusive.ExecuteNonQuery();
            }

            var refused = await _client.PostAsJsonAsync(Urls.Publish(vhost, "amq.default"), persistent);
            await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.ServiceUnavailable, "urn:gateway:problem:storage-unavailable");

            // Transient work does not touch the disk and goes on meanwhile.
            var transient = await _client.PostAsJsonAsync(Urls.Publish(vhost, "amq.default"), new { routingKey = "durable", payload = "t" });
            Assert.Equal(HttpStatusCode.OK, transient.StatusCode);

            // Readiness says why (Degraded still answers 200: the gateway serves, and retries with the next batch);
            // the failed batch is counted.
            var ready = await _client.GetStringAsync("/readyz");
            Assert.Contains("\"storage\":{\"status\":\"Degraded\",\"description\":\"the last journal commit failed", ready);
            await Eventually.WaitForAsync(() => _client.GetStringAsync("/metrics"),
                text => text.Contains("\ngateway_storage_journal_commit_failures 1", StringComparison.Ordinal),
                "the failed journal batch in gateway_storage_journal_commit_failures");
        }

        var accepted = await _client.PostAsJsonAsync(Urls.Publish(vhost, "amq.default"), persistent);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Contains("\"storage\":{\"status\":\"Healthy\"", await _client.GetStringAsync("/readyz"));
    }

    [Fact]
    public async Task The_API_and_readyz_answer_503_until_recovery_has_finished()
    {
        var readiness = _factory.Services.GetRequiredService<ReadinessState>();
        readiness.MarkNotReady("recovering durable topology and messages");
        try
        {
            var api = await _client.GetAsync(Urls.Vhosts);
            await ProblemAssert.IsProblemAsync(api, HttpStatusCode.ServiceUnavailable, "urn:gateway:problem:not-ready");
            Assert.True(api.Headers.RetryAfter is not null);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await _client.GetAsync("/readyz")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/healthz")).StatusCode);
        }
        finally
        {
            readiness.MarkReady();
        }
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync(Urls.Vhosts)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/readyz")).StatusCode);
    }

    public void Dispose()
    {
        _client.Dispose();
        _factory.Dispose();
        _root.Dispose();
    }
}
