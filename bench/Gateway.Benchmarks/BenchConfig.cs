using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;

namespace Gateway.Benchmarks;

/// <summary>
/// Shared configuration: adds the Op/s column (operations per second = 1 / mean per operation; with
/// OperationsPerInvoke an "operation" is one route or one message, not one call of the method).
/// Jobs are declared on each class with [SimpleJob(warmupCount: 3, iterationCount: 8)] so that a full run
/// of every benchmark stays within a few minutes.
/// </summary>
public sealed class BenchConfig : ManualConfig
{
    public BenchConfig()
    {
        AddColumn(StatisticColumn.OperationsPerSecond);
    }
}
