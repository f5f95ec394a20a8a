using System.Text.Encodings.Web;
using System.Text.Json;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace MoeQuant.Benchmarks.Reporting;

/// <summary>
/// One JSON object per benchmark case and line (bench/results/*.jsonl): machine, job, parameters, time statistics,
/// GB/s, and the ratio to the class's baseline measured in the same run.
/// </summary>
public sealed class JsonLinesExporter : ExporterBase
{
    // Keeps '+' and quotes in notes and timestamps readable instead of \u002B escapes.
    private static readonly JsonSerializerOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    protected override string FileExtension => "jsonl";

    public override void ExportToLog(Summary summary, ILogger logger)
    {
        var host = summary.HostEnvironmentInfo;
        var cpu = host.Cpu.Value;
        var machine = new Dictionary<string, object?>
        {
            ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            ["cpu"] = cpu?.ProcessorName,
            ["physical_cores"] = cpu?.PhysicalCoreCount,
            ["logical_cores"] = cpu?.LogicalCoreCount,
            ["memory_bytes"] = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
            ["runtime"] = host.RuntimeVersion,
            ["benchmarkdotnet"] = host.BenchmarkDotNetVersion,
            // Other work on the machine skews CPU timings; /proc/loadavg at export time shows how busy it was.
            ["load_average"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null,
        };

        foreach (var report in summary.Reports)
        {
            var benchmarkCase = report.BenchmarkCase;
            var statistics = report.ResultStatistics;
            var line = new Dictionary<string, object?>
            {
                ["timestamp"] = DateTimeOffset.UtcNow.ToString("O"),
                ["benchmark"] = benchmarkCase.Descriptor.Type.Name,
                ["method"] = benchmarkCase.Descriptor.WorkloadMethod.Name,
                ["baseline"] = benchmarkCase.Descriptor.Baseline,
                ["parameters"] = benchmarkCase.Parameters.Items.ToDictionary(p => p.Name, p => p.Value?.ToString()),
                ["job"] = benchmarkCase.Job.DisplayInfo,
                ["mean_ns"] = statistics?.Mean,
                ["stddev_ns"] = statistics?.StandardDeviation,
                ["iterations"] = statistics?.N,
                ["bytes_per_op"] = Throughput.BytesPerOperation(benchmarkCase),
                ["gb_per_s"] = Throughput.GigabytesPerSecond(summary, benchmarkCase),
                ["ratio_to_baseline"] = RatioToBaseline(summary, benchmarkCase),
                ["note"] = benchmarkCase.Descriptor.Type.GetCustomAttributes(typeof(BenchmarkNoteAttribute), false)
                    .Cast<BenchmarkNoteAttribute>().FirstOrDefault()?.Note,
                ["machine"] = machine,
            };
            logger.WriteLine(JsonSerializer.Serialize(line, Options));
        }
    }

    /// <summary>Throughput relative to the baseline method with the same parameters (mean time of baseline / own).</summary>
    private static double? RatioToBaseline(Summary summary, BenchmarkCase benchmarkCase)
    {
        var baseline = summary.GetBaseline(summary.GetLogicalGroupKey(benchmarkCase));
        var own = summary[benchmarkCase]?.ResultStatistics?.Mean;
        var reference = baseline is null ? null : summary[baseline]?.ResultStatistics?.Mean;
        return own is > 0 && reference is > 0 ? reference / own : null;
    }
}
