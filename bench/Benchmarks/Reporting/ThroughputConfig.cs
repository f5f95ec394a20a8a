using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;

namespace MoeQuant.Benchmarks.Reporting;

/// <summary>
/// Adds the GB/s column and the JSON-lines exporter; the job comes from the command line, e.g.
/// <c>dotnet run -c Release --project bench/Benchmarks -- --filter '*Checkpoint*' --job short --inProcess</c>.
/// <c>--inProcess</c> is needed while the assembly name (MoeQuant.Benchmarks) differs from the project file name,
/// which BenchmarkDotNet's out-of-process toolchain cannot find.
/// </summary>
public sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig()
    {
        AddColumn(new GigabytesPerSecondColumn(), BaselineRatioColumn.RatioMean);
        AddExporter(new JsonLinesExporter());
    }
}
