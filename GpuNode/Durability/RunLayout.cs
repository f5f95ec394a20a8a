using MoeQuant.Messages;

namespace MoeQuant.GpuNode.Durability;

/// <summary>Where a run keeps what it has finished. Names hold no device or member, so that output files do not
/// depend on the cluster shape.</summary>
/// <param name="SaveDir">The run's save_dir, absolute.</param>
public sealed record RunLayout(string SaveDir)
{
    /// <summary>The run's identity: flags that shape the output and the model's hash.</summary>
    public string RunFile => Path.Combine(SaveDir, "run.json");

    /// <summary>One JSON line per finished step.</summary>
    public string JournalFile => Path.Combine(SaveDir, "journal.jsonl");

    /// <summary>Structured logs, one file per process start.</summary>
    public string LogsDir => Path.Combine(SaveDir, "logs");

    /// <summary>Quantized state of every layer, one folder per layer.</summary>
    public string LayersDir => Path.Combine(SaveDir, "layers");

    /// <summary>Committed inputs of every layer, per calibration shard.</summary>
    public string ActivationsDir => Path.Combine(SaveDir, "activations");

    /// <summary>The quality report of the committed layers (units.json, loss-by-layer.png, summary.md).</summary>
    public string ReportDir => Path.Combine(SaveDir, "report");

    /// <summary>A layer's summary: each unit's outcome and each shard's hash.</summary>
    public string LayerFile(int layer) => Path.Combine(LayersDir, $"{layer:D3}", "layer.json");

    /// <summary>A unit's quantized weights.</summary>
    public string UnitFile(UnitId unit) => Path.Combine(LayersDir, $"{unit.Layer:D3}", $"{unit.Module}.safetensors");

    /// <summary>The committed inputs of <paramref name="layer"/>, every shard.</summary>
    public string LayerInputDir(int layer) => Path.Combine(ActivationsDir, $"{layer:D3}");

    /// <summary>The input of <paramref name="layer"/> for one shard (written when layer − 1 commits).</summary>
    public string ShardInputFile(int layer, int shard) => Path.Combine(LayerInputDir(layer), $"shard-{shard:D4}.safetensors");
}
