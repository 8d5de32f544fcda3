using System.Collections.Concurrent;
using System.Globalization;
using System.Net;

namespace Gateway.EndToEnd.Tests;

public sealed partial class CrashTests
{
    private const int Publishers = 8;
    private const int KillAfterConfirms = 1500;

    /// <summary>
    /// Eight publishers, each publishing <c>{publisher}-{i}</c> persistent messages one after another (each waits for its
    /// confirm before the next), are cut off by a kill -9 after about 1,500 confirms. After a restart the queue holds
    /// every confirmed message exactly once, each publisher's messages in the order it published them, and nothing
    /// else but possibly the one message per publisher that was in flight at the kill. Runs three times (rounds) to
    /// catch a kill landing at an unlucky moment.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Kill_during_publishing_loses_no_confirmed_message_and_duplicates_none(int round)
    {
        var queue = $"crash-publish-{round}";
        await using var gateway = await GatewayProcess.StartAsync(output);
        Assert.Equal(HttpStatusCode.Created, await gateway.Api.DeclareQueueAsync(queue));

        var api = gateway.Api;
        var confirmed = Enumerable.Range(0, Publishers).Select(_ => new List<int>()).ToArray(); // written by its publisher only
        var inFlightAtFailure = new int?[Publishers];
        var unexpected = new ConcurrentQueue<string>();
        var confirmedTotal = 0;
        var killing = 0;
        var enoughConfirms = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task PublishAsync(int publisher)
        {
            await Task.Yield();
            for (var i = 0; ; i++)
            {
                try
                {
                    var answer = await api.PublishAsync("amq.default", new PublishEnvelope(queue, $"{publisher}-{i}", MessageProperties.Persistent));
                    if (answer is not { Routed: true, Queues: 1 })
                        unexpected.Enqueue($"message {publisher}-{i} was confirmed as {answer}, not routed to its one queue");
                    confirmed[publisher].Add(i);
                    if (Interlocked.Increment(ref confirmedTotal) == KillAfterConfirms) enoughConfirms.TrySetResult();
                }
                catch (Exception e) when (IsConnectionFailure(e) || e is UnexpectedAnswerException)
                {
                    // Its fate is unknown: it may or may not have been stored.
                    inFlightAtFailure[publisher] = i;
                    if (Volatile.Read(ref killing) == 0 || e is UnexpectedAnswerException)
                        unexpected.Enqueue($"publishing {publisher}-{i} failed before the kill: {e.GetType().Name}: {e.Message}");
                    return;
                }
            }
        }

        var publishing = Task.WhenAll(Enumerable.Range(0, Publishers).Select(PublishAsync));
        await WaitForThresholdAsync(enoughConfirms.Task, publishing, $"{KillAfterConfirms} confirms", unexpected, gateway);
        Assert.False(publishing.IsCompleted, "The publishers must still be running when the server is killed.");

        Volatile.Write(ref killing, 1);
        gateway.Kill();
        await WaitForClientsAsync(publishing, gateway);
        Assert.True(unexpected.IsEmpty, Report(unexpected) + gateway.RecentOutput());
        output.WriteLine($"[test] killed after {Volatile.Read(ref confirmedTotal)} confirms: " +
                         string.Join(", ", confirmed.Select((c, p) => $"publisher {p}: {c.Count} confirmed, {p}-{inFlightAtFailure[p]} in flight")));

        await gateway.RestartAsync();
        await AssertQueueSurvivedAsync(gateway, queue);
        var recovered = await gateway.Api.DrainAsync(queue);
        output.WriteLine($"[test] recovered {recovered.Count} messages");

        var problems = new List<string>();
        var seen = new Dictionary<(int Publisher, int Index), int>();
        var lastIndex = Enumerable.Repeat(-1, Publishers).ToArray();
        foreach (var delivery in recovered)
        {
            if (!TryParsePublished(delivery.Payload, out var publisher, out var index))
            {
                problems.Add($"unknown payload '{delivery.Payload}' recovered");
                continue;
            }
            seen[(publisher, index)] = seen.GetValueOrDefault((publisher, index)) + 1;
            if (index <= lastIndex[publisher])
                problems.Add($"publisher {publisher}: {publisher}-{index} recovered after {publisher}-{lastIndex[publisher]} (not FIFO)");
            lastIndex[publisher] = Math.Max(lastIndex[publisher], index);
            if (delivery.Properties?.DeliveryMode != 2)
                problems.Add($"{delivery.Payload} recovered with deliveryMode {delivery.Properties?.DeliveryMode?.ToString(CultureInfo.InvariantCulture) ?? "absent"}, not 2");
        }

        var duplicates = seen.Where(s => s.Value > 1).Select(s => $"{s.Key.Publisher}-{s.Key.Index} ×{s.Value}").ToList();
        if (duplicates.Count > 0) problems.Add($"recovered more than once: {Sample(duplicates)}");
        var inFlightRecovered = 0;
        for (var p = 0; p < Publishers; p++)
        {
            var lost = confirmed[p].Where(i => !seen.ContainsKey((p, i))).Select(i => $"{p}-{i}").ToList();
            if (lost.Count > 0)
                problems.Add($"publisher {p}: confirmed but lost: {Sample(lost)} (confirmed {p}-0 … {p}-{confirmed[p].Count - 1})");
            var allowed = confirmed[p].Count + (inFlightAtFailure[p] is null ? 0 : 1); // 0 … n-1 confirmed, n maybe stored
            var invented = seen.Keys.Where(k => k.Publisher == p && k.Index >= allowed).Select(k => $"{p}-{k.Index}").ToList();
            if (invented.Count > 0) problems.Add($"publisher {p}: recovered messages that were never published: {Sample(invented)}");
            if (inFlightAtFailure[p] is { } i && seen.ContainsKey((p, i))) inFlightRecovered++;
        }
        output.WriteLine($"[test] {inFlightRecovered} of the messages in flight at the kill were recovered too");

        Assert.True(problems.Count == 0,
            $"Round {round}: {Volatile.Read(ref confirmedTotal)} confirmed, {recovered.Count} recovered.{Environment.NewLine}" +
            Report(problems) + gateway.RecentOutput());
    }

    private static bool TryParsePublished(string payload, out int publisher, out int index)
    {
        publisher = index = -1;
        var dash = payload.IndexOf('-', StringComparison.Ordinal);
        return dash > 0
               && int.TryParse(payload.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out publisher)
               && int.TryParse(payload.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out index)
               && publisher < Publishers;
    }
}
