using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace MoeQuant.Benchmarks.Gptq;

/// <summary>
/// ShortRun (3 warm-ups, 3 iterations, one launch): the CPU GPTQ call takes seconds, and the trend is what matters.
/// In process: the generated child project cannot be found for an assembly named MoeQuant.Benchmarks built from
/// Benchmarks.csproj, and the in-process run also uses this output folder's patched libtorch.
/// </summary>
public sealed class GptqBenchmarkConfig : ManualConfig
{
    public GptqBenchmarkConfig()
    {
        AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
        AddExporter(new JsonLinesExporter("gptq-cpu.jsonl"));
    }
}

/// <summary>One JSON object per benchmark case, with the machine and the inputs, so results append across runs.</summary>
public sealed class JsonLinesExporter(string fileName) : IExporter
{
    public string Name => nameof(JsonLinesExporter);

    public void ExportToLog(Summary summary, ILogger logger)
    {
        foreach (var line in Lines(summary))
        {
            logger.WriteLine(line);
        }
    }

    public IEnumerable<string> ExportToFiles(Summary summary, ILogger consoleLogger)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var path = Path.Combine(summary.ResultsDirectoryPath, fileName);
        File.AppendAllLines(path, Lines(summary));
        return [path];
    }

    private static IEnumerable<string> Lines(Summary summary)
    {
        var host = summary.HostEnvironmentInfo;
        var machine = new
        {
            cpu = host.Cpu.Value.ProcessorName,
            logicalCores = host.Cpu.Value.LogicalCoreCount,
            os = host.Os.Value.ToString(),
            runtime = host.RuntimeVersion,
        };
        foreach (var report in summary.Reports.Where(r => r.ResultStatistics is not null))
        {
            var stats = report.ResultStatistics!;
            var parameters = report.BenchmarkCase.Parameters.Items.ToDictionary(p => p.Name, p => p.Value?.ToString());
            yield return JsonSerializer.Serialize(new
            {
                date = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
                benchmark = $"{report.BenchmarkCase.Descriptor.Type.Name}.{report.BenchmarkCase.Descriptor.WorkloadMethod.Name}",
                inputs = new { rows = GptqCpuBenchmarks.Rows, columns = GptqCpuBenchmarks.Columns, tokens = GptqCpuBenchmarks.Tokens, bits = 4, groupSize = 128, symmetric = true, relDamp = 0.1, parameters },
                machine,
                meanMs = stats.Mean / 1e6,
                medianMs = stats.Median / 1e6,
                stdDevMs = stats.StandardDeviation / 1e6,
                iterations = stats.N,
            });
        }
    }
}
