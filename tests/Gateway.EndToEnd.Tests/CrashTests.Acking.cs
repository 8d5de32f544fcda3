using System.Collections.Concurrent;
using System.Globalization;
using System.Net;

namespace Gateway.EndToEnd.Tests;

public sealed partial class CrashTests
{
    private const int AckedMessages = 2000;
    private const int KillAfterAcks = 700;
    private const int Consumers = 2;
    private const int GetMax = 50;
    private const int AckChunk = 10;

    // What a consumer knows about each message when the server dies.
    private const int NotDelivered = 0; // never seen (a pull in flight at the kill may have taken it)
    private const int Delivered = 1;    // handed over, no ack sent
    private const int AckSent = 2;      // ack sent, no answer: may or may not have been applied
    private const int Acked = 3;        // ack answered 2xx

    /// <summary>
    /// 2,000 persistent messages are consumed by two consumers (pull 50 manual, ack in tens) and the server is killed
    /// after about 700 acks while acking goes on. After a restart: no message whose ack was answered 2xx comes back;
    /// every message not acked comes back exactly once, in publish order; those delivered but not acked come back
    /// marked redelivered.
    /// </summary>
    [Fact]
    public async Task Kill_during_acking_never_brings_back_an_acked_message_and_redelivers_the_unacked()
    {
        const string queue = "crash-ack";
        await using var gateway = await GatewayProcess.StartAsync(output);
        Assert.Equal(HttpStatusCode.Created, await gateway.Api.DeclareQueueAsync(queue));
        for (var start = 0; start < AckedMessages; start += 500)
        {
            var batch = Enumerable.Range(start, 500).Select(i => new PublishEnvelope(queue, AckedPayload(i), MessageProperties.Persistent)).ToList();
            var results = await gateway.Api.PublishBatchAsync("amq.default", batch);
            Assert.All(results, r => Assert.Equal(new PublishAnswer(Routed: true, Queues: 1, Returned: false), r));
        }

        var api = gateway.Api;
        var state = new int[AckedMessages];
        var unexpected = new ConcurrentQueue<string>();
        var ackedTotal = 0;
        var killing = 0;
        var enoughAcks = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        void NoteFailure(Exception e, string what)
        {
            if (Volatile.Read(ref killing) == 0 || e is UnexpectedAnswerException)
                unexpected.Enqueue($"{what} failed before the kill: {e.GetType().Name}: {e.Message}");
        }

        async Task ConsumeAsync(int consumer)
        {
            await Task.Yield();
            while (true)
            {
                List<Delivery> deliveries;
                try
                {
                    // A lease far longer than the test, so that nothing returns to the queue on its own before the kill.
                    deliveries = await api.GetAsync(queue, new GetRequest(Max: GetMax, AckMode: "manual", LeaseSeconds: 600));
                }
                catch (Exception e) when (IsConnectionFailure(e) || e is UnexpectedAnswerException)
                {
                    NoteFailure(e, $"consumer {consumer}: get");
                    return;
                }
                if (deliveries.Count == 0)
                {
                    if (Volatile.Read(ref killing) == 0) unexpected.Enqueue($"consumer {consumer}: the queue ran dry before the kill");
                    return;
                }

                var indexes = new List<int>(deliveries.Count);
                foreach (var d in deliveries)
                {
                    if (!TryParseAcked(d.Payload, out var index))
                    {
                        unexpected.Enqueue($"consumer {consumer}: unknown payload '{d.Payload}' delivered");
                        return;
                    }
                    if (Interlocked.Exchange(ref state[index], Delivered) != NotDelivered)
                        unexpected.Enqueue($"{d.Payload} was delivered twice before the kill (lease of 600 s)");
                    indexes.Add(index);
                }

                foreach (var chunk in deliveries.Zip(indexes).Chunk(AckChunk))
                {
                    foreach (var (_, index) in chunk) Volatile.Write(ref state[index], AckSent);
                    try
                    {
                        await api.AckAsync(queue, chunk.Select(c => c.First.DeliveryTag).ToList());
                    }
                    catch (Exception e) when (IsConnectionFailure(e) || e is UnexpectedAnswerException)
                    {
                        NoteFailure(e, $"consumer {consumer}: ack");
                        return;
                    }
                    foreach (var (_, index) in chunk) Volatile.Write(ref state[index], Acked);
                    if (Interlocked.Add(ref ackedTotal, chunk.Length) >= KillAfterAcks) enoughAcks.TrySetResult();
                }
            }
        }

        var consuming = Task.WhenAll(Enumerable.Range(0, Consumers).Select(ConsumeAsync));
        await WaitForThresholdAsync(enoughAcks.Task, consuming, $"{KillAfterAcks} acks", unexpected, gateway);
        Assert.False(consuming.IsCompleted, "The consumers must still be acking when the server is killed.");

        Volatile.Write(ref killing, 1);
        gateway.Kill();
        await WaitForClientsAsync(consuming, gateway);
        Assert.True(unexpected.IsEmpty, Report(unexpected) + gateway.RecentOutput());
        var counts = state.GroupBy(s => s).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine($"[test] killed with {counts.GetValueOrDefault(Acked)} acked, {counts.GetValueOrDefault(AckSent)} ack in flight, " +
                         $"{counts.GetValueOrDefault(Delivered)} delivered unacked, {counts.GetValueOrDefault(NotDelivered)} not delivered");

        await gateway.RestartAsync();
        await AssertQueueSurvivedAsync(gateway, queue);
        var recovered = await gateway.Api.DrainAsync(queue);
        output.WriteLine($"[test] recovered {recovered.Count} messages");

        var problems = new List<string>();
        var seen = new int[AckedMessages];
        var redelivered = new bool[AckedMessages];
        var last = -1;
        foreach (var delivery in recovered)
        {
            if (!TryParseAcked(delivery.Payload, out var index))
            {
                problems.Add($"unknown payload '{delivery.Payload}' recovered");
                continue;
            }
            seen[index]++;
            redelivered[index] |= delivery.Redelivered;
            if (index <= last) problems.Add($"{delivery.Payload} recovered after {AckedPayload(last)} (not in publish order)");
            last = Math.Max(last, index);
            if (delivery.Properties?.DeliveryMode != 2)
                problems.Add($"{delivery.Payload} recovered with deliveryMode {delivery.Properties?.DeliveryMode?.ToString(CultureInfo.InvariantCulture) ?? "absent"}, not 2");
        }

        List<string> Where(Func<int, bool> predicate) =>
            Enumerable.Range(0, AckedMessages).Where(predicate).Select(AckedPayload).ToList();
        void Expect(List<string> wrong, string what)
        {
            if (wrong.Count > 0) problems.Add($"{what}: {Sample(wrong)}");
        }

        output.WriteLine($"[test] of {counts.GetValueOrDefault(AckSent)} acks in flight at the kill, {Where(i => state[i] == AckSent && seen[i] == 0).Count} were applied; " +
                         $"{Where(i => state[i] is Delivered or AckSent && redelivered[i]).Count} delivered messages came back redelivered");

        Expect(Where(i => state[i] == Acked && seen[i] > 0), "acked (answered 2xx) but came back");
        Expect(Where(i => seen[i] > 1), "recovered more than once");
        Expect(Where(i => state[i] is NotDelivered or Delivered && seen[i] == 0), "not acked but lost");
        Expect(Where(i => state[i] is Delivered or AckSent && seen[i] > 0 && !redelivered[i]), "delivered before the kill but recovered with redelivered=false");

        Assert.True(problems.Count == 0,
            $"{counts.GetValueOrDefault(Acked)} acked before the kill, {recovered.Count} recovered.{Environment.NewLine}" +
            Report(problems) + gateway.RecentOutput());
    }

    private static string AckedPayload(int index) => $"m-{index:D4}";

    private static bool TryParseAcked(string payload, out int index)
    {
        index = -1;
        return payload.StartsWith("m-", StringComparison.Ordinal)
               && int.TryParse(payload.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out index)
               && index < AckedMessages;
    }
}
