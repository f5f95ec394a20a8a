using BenchmarkDotNet.Running;

namespace MoeQuant.Benchmarks.Reporting;

/// <summary>
/// How many bytes one call of a benchmark moves, from its parameters alone: columns and exporters run in the host
/// process, where the benchmark instance (and what its setup wrote) does not exist.
/// </summary>
public interface IBytesPerOperation
{
    static abstract long BytesPerOperation(BenchmarkCase benchmarkCase);
}
