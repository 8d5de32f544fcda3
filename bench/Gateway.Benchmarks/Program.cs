using BenchmarkDotNet.Running;

namespace Gateway.Benchmarks;

public static class Program
{
    // dotnet run -c Release --project bench/Gateway.Benchmarks -- --filter '*'
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
