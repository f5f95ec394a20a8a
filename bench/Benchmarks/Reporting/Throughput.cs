using System.Reflection;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace MoeQuant.Benchmarks.Reporting;

/// <summary>GB/s (10^9 bytes per second) of a finished benchmark case whose class implements <see cref="IBytesPerOperation"/>.</summary>
internal static class Throughput
{
    public static double? GigabytesPerSecond(Summary summary, BenchmarkCase benchmarkCase)
    {
        var bytes = BytesPerOperation(benchmarkCase);
        var meanNanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
        return bytes is null || meanNanoseconds is not > 0 ? null : bytes / meanNanoseconds.Value;
    }

    public static long? BytesPerOperation(BenchmarkCase benchmarkCase)
    {
        var type = benchmarkCase.Descriptor.Type;
        if (!typeof(IBytesPerOperation).IsAssignableFrom(type))
        {
            return null;
        }

        var method = type.GetMethod(nameof(IBytesPerOperation.BytesPerOperation), BindingFlags.Public | BindingFlags.Static);
        return (long?)method?.Invoke(null, [benchmarkCase]);
    }
}
