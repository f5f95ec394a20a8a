using System.Text.Json;
using System.Text.Json.Nodes;
using MoeQuant.Coordinator.Diagnostics;

namespace MoeQuant.Coordinator.Bench;

/// <summary>Appends one JSON line per measurement, each carrying the machine it ran on, so results files stand alone.</summary>
internal sealed class BenchRecorder(string path, TextWriter console)
{
    private readonly JsonObject _machine = Machine(SystemReport.Collect());

    /// <summary>Writes a result line (benchmark name, inputs, measured values incl. the same-run baseline) and echoes it.</summary>
    public void Record(string benchmark, object inputs, object results)
    {
        var line = new JsonObject
        {
            ["benchmark"] = benchmark,
            ["utc"] = DateTime.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["machine"] = _machine.DeepClone(),
            ["inputs"] = JsonSerializer.SerializeToNode(inputs),
            ["results"] = JsonSerializer.SerializeToNode(results),
        };
        var text = line.ToJsonString();
        File.AppendAllText(path, text + "\n");
        console.WriteLine(text);
    }

    private static JsonObject Machine(SystemReport report) => new()
    {
        ["cpu"] = report.CpuModel,
        ["logicalCpus"] = report.LogicalCpus,
        ["cudaDriver"] = report.CudaDriverVersion,
        ["gpus"] = new JsonArray(report.CudaDevices.Select(d => (JsonNode)JsonValue.Create(d.Name)!).ToArray()),
        ["torchSharp"] = report.TorchSharpVersion,
        ["libtorch"] = report.LibTorchPath,
    };
}
