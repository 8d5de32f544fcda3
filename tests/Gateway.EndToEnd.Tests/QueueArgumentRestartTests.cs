using System.Diagnostics;
using System.Text.Json;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// Queue arguments across a kill -9 of the real server process (issue 5, item 10): dead-lettering moves already made
/// stay made, a TTL that passed while the server was down dead-letters at start, delayed messages stay delayed and
/// arrive when due, and the queues keep their arguments.
/// </summary>
public sealed class QueueArgumentRestartTests(ITestOutputHelper output)
{
    private const int QueueTtlMilliseconds = 3_000;
    private const int SoonMilliseconds = 4_000;
    private const int MuchLaterMilliseconds = 600_000;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static MessageProperties Persistent(string? expiration = null, int? delay = null) => new(
        DeliveryMode: 2,
        Expiration: expiration,
        Headers: delay is { } d ? new Dictionary<string, JsonElement> { ["x-delay"] = JsonSerializer.SerializeToElement(d) } : null);

    /// <summary>Polls a queue until <paramref name="condition"/> holds (the server's timers act on their own).</summary>
    private static async Task<QueueInfo> WaitForAsync(GatewayProcess gateway, string queue, Func<QueueInfo, bool> condition, string what)
    {
        var started = Stopwatch.StartNew();
        while (true)
        {
            var info = await gateway.Api.FindQueueAsync(queue);
            if (info is not null && condition(info)) return info;
            if (started.Elapsed > Deadline)
                Assert.Fail($"Gave up after {Deadline.TotalSeconds:0} s waiting for {what}; last seen: {info}.{Environment.NewLine}{gateway.RecentOutput()}");
            await Task.Delay(50);
        }
    }

    private static JsonElement OnlyDeath(Delivery delivery)
    {
        var headers = delivery.Properties?.Headers;
        Assert.True(headers is not null && headers.ContainsKey("x-death"), $"No x-death header on {delivery}");
        return Assert.Single(headers["x-death"].EnumerateArray());
    }

    [Fact]
    public async Task After_a_kill_dead_letter_moves_stay_made_expired_ttls_dead_letter_at_start_and_delayed_messages_arrive_when_due()
    {
        await using var gateway = await GatewayProcess.StartAsync(output);
        var api = gateway.Api;
        await api.DeclareQueueAsync("dead");
        await api.DeclareQueueAsync("work", new QueueDeclaration(Arguments: new Dictionary<string, object>
        {
            ["x-message-ttl"] = QueueTtlMilliseconds, ["x-dead-letter-exchange"] = "", ["x-dead-letter-routing-key"] = "dead",
        }));
        await api.DeclareQueueAsync("later");

        // Dead-lettered while the server runs: the move is on disk before the kill.
        await api.PublishAsync("amq.default", new PublishEnvelope("work", "expired-before-the-kill", Persistent(expiration: "50")));
        await WaitForAsync(gateway, "dead", q => q.MessagesReady == 1, "the first message to be dead-lettered");

        var ttlClock = Stopwatch.StartNew();
        await api.PublishAsync("amq.default", new PublishEnvelope("work", "expires-while-down", Persistent()));
        var delayClock = Stopwatch.StartNew();
        await api.PublishAsync("amq.default", new PublishEnvelope("later", "due-soon", Persistent(delay: SoonMilliseconds)));
        await api.PublishAsync("amq.default", new PublishEnvelope("later", "due-much-later", Persistent(delay: MuchLaterMilliseconds)));
        await api.PublishAsync("amq.default", new PublishEnvelope("later", "ready-now", Persistent()));
        var beforeKill = await api.FindQueueAsync("work");
        output.WriteLine($"[test] before the kill: {beforeKill}");
        Assert.True(ttlClock.ElapsedMilliseconds < QueueTtlMilliseconds, "The load was too slow to kill the server before the TTL ended; nothing to test.");

        gateway.Kill();
        // The TTL must end while the server is down (a restart usually takes longer than what is left of it anyway).
        var left = TimeSpan.FromMilliseconds(QueueTtlMilliseconds) - ttlClock.Elapsed;
        if (left > TimeSpan.Zero) await Task.Delay(left);
        await gateway.RestartAsync();

        // Recovery finished (ready): the message whose TTL passed meanwhile has already moved.
        var work = await gateway.Api.FindQueueAsync("work");
        var dead = await gateway.Api.FindQueueAsync("dead");
        output.WriteLine($"[test] after the restart: {work}; {dead}");
        Assert.Equal(0, work!.Messages);
        Assert.Equal(QueueTtlMilliseconds, work.Arguments!["x-message-ttl"].GetInt32());
        Assert.Equal("dead", work.Arguments["x-dead-letter-routing-key"].GetString());
        var deadLetters = await gateway.Api.DrainAsync("dead");
        Assert.Equal(["expired-before-the-kill", "expires-while-down"], deadLetters.Select(d => d.Payload));
        foreach (var letter in deadLetters)
        {
            var death = OnlyDeath(letter);
            Assert.Equal(("work", "expired"), (death.GetProperty("queue").GetString(), death.GetProperty("reason").GetString()));
        }

        // The delayed messages are still delayed; the sooner one arrives when due (never before), the other stays.
        var later = await gateway.Api.FindQueueAsync("later");
        output.WriteLine($"[test] delayed queue after the restart, {delayClock.ElapsedMilliseconds} ms after the publish: {later}");
        Assert.Equal(3, later!.Messages);
        Assert.InRange(later.MessagesDelayed, 1, 2);
        await WaitForAsync(gateway, "later", q => q.MessagesReady == 2, "the sooner delayed message to become ready");
        Assert.True(delayClock.ElapsedMilliseconds >= SoonMilliseconds, $"Ready after {delayClock.ElapsedMilliseconds} ms, before its {SoonMilliseconds} ms delay.");
        Assert.Equal(["ready-now", "due-soon"], (await gateway.Api.DrainAsync("later")).Select(d => d.Payload));
        Assert.Equal(1, (await gateway.Api.FindQueueAsync("later"))!.MessagesDelayed);

        // The dead-letter target is live after the restart too.
        await gateway.Api.PublishAsync("amq.default", new PublishEnvelope("work", "expires-after-restart", Persistent(expiration: "50")));
        await WaitForAsync(gateway, "dead", q => q.MessagesReady == 1, "a message to be dead-lettered after the restart");
    }
}
