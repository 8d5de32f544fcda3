using System.Net;

namespace Gateway.EndToEnd.Tests;

/// <summary>How the server goes down before a restart.</summary>
public enum StopMode
{
    /// <summary>SIGTERM: the host's normal shutdown.</summary>
    Graceful,
    /// <summary>SIGKILL: nothing is flushed or closed.</summary>
    Kill,
}

/// <summary>
/// What a restart keeps: durable exchanges, queues and the bindings between them, and persistent messages in durable
/// queues; not non-durable exchanges and queues (nor bindings to or from them), nor transient messages.
/// </summary>
public sealed class RestartTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(StopMode.Graceful)]
    [InlineData(StopMode.Kill)]
    public async Task Restart_keeps_durable_topology_and_persistent_messages_only(StopMode stop)
    {
        await using var gateway = await GatewayProcess.StartAsync(output);
        var api = gateway.Api;
        Assert.Equal(HttpStatusCode.Created, await api.DeclareExchangeAsync("orders", new ExchangeDeclaration("topic")));
        Assert.Equal(HttpStatusCode.Created, await api.DeclareExchangeAsync("scratch", new ExchangeDeclaration("fanout", Durable: false)));
        Assert.Equal(HttpStatusCode.Created, await api.DeclareQueueAsync("kept"));
        Assert.Equal(HttpStatusCode.Created, await api.DeclareQueueAsync("forgotten", new QueueDeclaration(Durable: false)));
        var durableBinding = await api.BindAsync(new BindingDeclaration("orders", "kept", "orders.#"));
        await api.BindAsync(new BindingDeclaration("orders", "forgotten", "orders.#"));
        await api.BindAsync(new BindingDeclaration("scratch", "kept", ""));
        await api.BindAsync(new BindingDeclaration("scratch", "forgotten", ""));

        var persistent = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            // Interleaved, so that recovery must skip the transient ones between the persistent ones.
            var isPersistent = i % 2 == 0;
            var payload = isPersistent ? $"persistent-{i}" : $"transient-{i}";
            var answer = await api.PublishAsync("orders", new PublishEnvelope("orders.eu.created", payload,
                isPersistent ? MessageProperties.Persistent : MessageProperties.Transient));
            Assert.Equal(new PublishAnswer(Routed: true, Queues: 2, Returned: false), answer);
            if (isPersistent) persistent.Add(payload);
        }
        Assert.Equal(new PublishAnswer(Routed: true, Queues: 2, Returned: false),
            await api.PublishAsync("scratch", new PublishEnvelope("", "persistent-via-scratch", MessageProperties.Persistent)));
        persistent.Add("persistent-via-scratch");

        if (stop == StopMode.Graceful)
        {
            var exitCode = await gateway.StopAsync();
            Assert.True(exitCode == 0, $"A graceful stop exited with {exitCode}.{Environment.NewLine}{gateway.RecentOutput()}");
        }
        else
        {
            gateway.Kill();
        }
        await gateway.RestartAsync();
        api = gateway.Api;

        var log = Environment.NewLine + gateway.RecentOutput();
        var orders = await api.FindExchangeAsync("orders");
        Assert.True(orders is { Type: "topic", Durable: true }, $"Durable exchange 'orders' after the restart: {orders?.ToString() ?? "missing"}.{log}");
        var kept = await api.FindQueueAsync("kept");
        Assert.True(kept is { Durable: true }, $"Durable queue 'kept' after the restart: {kept?.ToString() ?? "missing"}.{log}");
        var scratch = await api.FindExchangeAsync("scratch");
        Assert.True(scratch is null, $"Non-durable exchange 'scratch' survived the restart: {scratch}.{log}");
        var forgotten = await api.FindQueueAsync("forgotten");
        Assert.True(forgotten is null, $"Non-durable queue 'forgotten' survived the restart: {forgotten}.{log}");

        var bindings = await api.ListBindingsAsync();
        var listed = string.Join(Environment.NewLine, bindings);
        Assert.True(bindings.Any(b => b.Id == durableBinding.Id && b is { Source: "orders", Destination: "kept", DestinationType: "queue", RoutingKey: "orders.#" }),
            $"The binding orders → kept ({durableBinding.Id}) is missing after the restart; bindings:{Environment.NewLine}{listed}{log}");
        Assert.True(!bindings.Any(b => b.Source == "scratch" || b.Destination == "forgotten"),
            $"Bindings of non-durable exchanges or queues survived the restart:{Environment.NewLine}{listed}{log}");

        var recovered = (await api.DrainAsync("kept")).Select(d => d.Payload).ToList();
        Assert.True(persistent.SequenceEqual(recovered),
            $"Queue 'kept' after the restart should hold exactly the persistent messages, in order.{Environment.NewLine}" +
            $"expected: {string.Join(", ", persistent)}{Environment.NewLine}recovered: {string.Join(", ", recovered)}{log}");

        // The recovered binding routes: the topology is live, not just listed.
        Assert.Equal(new PublishAnswer(Routed: true, Queues: 1, Returned: false),
            await api.PublishAsync("orders", new PublishEnvelope("orders.us.created", "after-restart", MessageProperties.Persistent)));
        Assert.Equal(["after-restart"], (await api.DrainAsync("kept")).Select(d => d.Payload).ToList());
    }
}
