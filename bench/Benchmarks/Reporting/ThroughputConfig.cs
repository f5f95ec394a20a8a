using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;

namespace MoeQuant.Benchmarks.Reporting;

/// <summary>Adds the GB/s column and the JSON-lines exporter; the job comes from the command line (e.g. --job short).</summary>
public sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig()
    {
        AddColumn(new GigabytesPerSecondColumn(), BaselineRatioColumn.RatioMean);
        AddExporter(new JsonLinesExporter());
    }
}
