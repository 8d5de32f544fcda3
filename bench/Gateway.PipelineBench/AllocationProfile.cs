using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Gateway.PipelineBench;

/// <summary>
/// Which types a request allocates: the runtime's allocation-tick events (one per ~100 KB allocated, naming the type
/// whose allocation crossed the mark) gathered in process over many requests, so each type's share of the ticks is
/// its share of the bytes. Usage: <c>dotnet run -c Release --project bench/Gateway.PipelineBench -- --alloc-profile
/// Floor|TrivialPost|SingleTransientPublish [requests]</c>.
/// </summary>
internal static class AllocationProfile
{
    public static async Task RunAsync(string scenario, int requests)
    {
        var bench = new PublishPipeline();
        bench.Setup();
        try
        {
            Func<Task<int>> run = scenario switch
            {
                nameof(PublishPipeline.Floor) => bench.Floor,
                nameof(PublishPipeline.TrivialPost) => bench.TrivialPost,
                nameof(PublishPipeline.SingleTransientPublish) => bench.SingleTransientPublish,
                _ => throw new ArgumentException($"Unknown scenario '{scenario}'."),
            };
            for (var i = 0; i < 20_000; i++) await run(); // warm-up: tiered compilation, pools, caches
            await MeasureAsync(scenario, requests, async () =>
            {
                for (var i = 0; i < requests; i++) await run();
            });
        }
        finally
        {
            bench.Cleanup();
        }
    }

    /// <summary>Runs <paramref name="load"/> (<paramref name="requests"/> requests) and prints the bytes and types it allocated.</summary>
    public static async Task MeasureAsync(string scenario, int requests, Func<Task> load)
    {
        using var listener = new TickListener();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        await load();
        var total = GC.GetTotalAllocatedBytes(precise: true) - before;
        listener.Dispose();
        var ticks = listener.Ticks.ToArray();
        var tickCount = Math.Max(1, ticks.Sum(t => t.Value));
        Console.WriteLine($"{scenario}: {total / (double)requests:F0} bytes per request over {requests} requests ({tickCount} ticks)");
        foreach (var (type, count) in ticks.OrderByDescending(t => t.Value).Take(400))
            Console.WriteLine($"{total / (double)requests * count / tickCount,8:F0} B  {100.0 * count / tickCount,5:F1} %  {type}");
    }

    private sealed class TickListener : EventListener
    {
        public readonly ConcurrentDictionary<string, int> Ticks = new();
        private bool _on = true;

        protected override void OnEventSourceCreated(EventSource source)
        {
            // The GC keyword at verbose level carries GCAllocationTick.
            if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (!_on || !e.EventName!.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.PayloadNames is null) return;
            var index = e.PayloadNames.IndexOf("TypeName");
            if (index >= 0 && e.Payload![index] is string type) Ticks.AddOrUpdate(type, 1, (_, n) => n + 1);
        }

        public override void Dispose()
        {
            _on = false;
            base.Dispose();
        }
    }
}
