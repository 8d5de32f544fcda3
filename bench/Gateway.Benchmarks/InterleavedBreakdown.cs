using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Gateway.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project bench/Gateway.Benchmarks -- --breakdown [rounds]</c>: runs the
/// <see cref="TopicBreakdownBenchmarks"/> methods in one process, interleaved round after round, timing each batch by
/// the thread's CPU time (Linux; wall time elsewhere), and prints min and median per route. On a shared machine
/// this A/B comparison is steadier than separate BenchmarkDotNet processes, which run minutes apart under
/// different load; the minimum is the least disturbed figure.
/// </summary>
public static class InterleavedBreakdown
{
    public static void Run(int rounds)
    {
        var b = new TopicBreakdownBenchmarks();
        b.Setup();
        var cases = new (string Name, Func<int> Run)[]
        {
            ("EngineTrieMatch", b.EngineTrieMatch),
            ("EngineSnapshotRoute", b.EngineSnapshotRoute),
            ("EngineSnapshotRouteSameKey", b.EngineSnapshotRouteSameKey),
            ("PrototypeTrieMatch", b.PrototypeTrieMatch),
            ("PrototypeRoute", b.PrototypeRoute),
        };
        const int invocations = 100;
        const int perInvoke = 1024;
        var samples = cases.Select(_ => new List<double>()).ToArray();
        var sink = 0;
        for (var round = 0; round < rounds + 3; round++)
            for (var c = 0; c < cases.Length; c++)
            {
                var start = Now();
                for (var i = 0; i < invocations; i++) sink += cases[c].Run();
                var ns = (Now() - start) / (double)(invocations * perInvoke);
                if (round >= 3) samples[c].Add(ns); // the first rounds are warm-up (tiered JIT)
            }
        Console.WriteLine($"Topic exchange, 10,000 bindings, 1,024 keys; {rounds} interleaved rounds, " +
                          $"{(OperatingSystem.IsLinux() ? "thread CPU time" : "wall time")} per route (sink {sink})");
        Console.WriteLine($"{"",-28} {"min ns",8} {"median ns",10} {"routes/s (median)",18}");
        for (var c = 0; c < cases.Length; c++)
        {
            var s = samples[c].Order().ToList();
            var median = s[s.Count / 2];
            Console.WriteLine($"{cases[c].Name,-28} {s[0],8:F0} {median,10:F0} {1e9 / median,18:N0}");
        }
        b.Cleanup();
    }

    private static long Now()
    {
        if (!OperatingSystem.IsLinux()) return Stopwatch.GetTimestamp() * (1_000_000_000 / Stopwatch.Frequency);
        clock_gettime(ClockThreadCpuTime, out var ts);
        return ts.Seconds * 1_000_000_000 + ts.Nanoseconds;
    }

    private const int ClockThreadCpuTime = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

#pragma warning disable SYSLIB1054 // a blittable DllImport is enough here
    [DllImport("libc", SetLastError = false)]
    private static extern int clock_gettime(int clock, out TimeSpec time);
#pragma warning restore SYSLIB1054
}
