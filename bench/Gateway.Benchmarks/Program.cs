using BenchmarkDotNet.Running;

namespace Gateway.Benchmarks;

public static class Program
{
    // dotnet run -c Release --project bench/Gateway.Benchmarks -- --filter '*'      (every benchmark)
    // dotnet run -c Release --project bench/Gateway.Benchmarks -- --breakdown [n]    (interleaved topic A/B)
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--breakdown")
        {
            InterleavedBreakdown.Run(args.Length > 1 ? int.Parse(args[1]) : 25);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
