using System.Globalization;
using MoeQuant.Coordinator.Diagnostics;
using MoeQuant.Coordinator.Hosting;
using MoeQuant.GpuNode.Durability;
using MoeQuant.Model;
using MoeQuant.Model.Config;
using MoeQuant.Model.Export;
using MoeQuant.Model.TinyModel;

namespace MoeQuant.Coordinator.Packing;

/// <summary>What <c>moequant pack</c> (and <c>quantize</c> after its last layer) exports.</summary>
/// <param name="SaveDir">The run's save_dir.</param>
/// <param name="Output">The checkpoint folder; null for the save_dir itself.</param>
/// <param name="ExportFormat">"compressed-tensors" or "gptq-v1"; null for the run's --export-format.</param>
/// <param name="KeepMtp">Keep the MTP layers unquantized instead of dropping them.</param>
/// <param name="Overwrite">Replace a checkpoint already in the output folder.</param>
/// <param name="ModelPath">The original checkpoint; null for the folder run.json names (or the built-in tiny model).</param>
/// <param name="MaxShardBytes">Shard limit; tests lower it to see several shards of the tiny model.</param>
/// <param name="Threads">Tensors made and written at once; null for every core.</param>
internal sealed record PackOptions(
    string SaveDir,
    string? Output,
    string? ExportFormat,
    bool KeepMtp,
    bool Overwrite,
    string? ModelPath,
    long MaxShardBytes = ExportRequest.DefaultMaxShardBytes,
    int? Threads = null);

/// <summary>
/// Exports a finished run's state without re-quantizing: finds the original checkpoint, checks it is the model the run
/// quantized (the fingerprint in run.json), collects the unit state files and hands them to
/// <see cref="CheckpointExporter"/>.
/// </summary>
internal static class RunExport
{
    /// <summary>Exports; every problem with the input is a <see cref="UserInputException"/> naming it.</summary>
    public static ExportResult Run(PackOptions options)
    {
        var layout = new RunLayout(Path.GetFullPath(options.SaveDir));
        if (!File.Exists(layout.RunFile))
        {
            throw new UserInputException($"--save-dir {layout.SaveDir} holds no MoeQuant run (no run.json)");
        }

        var flags = RunDirectory.ReadFingerprint(layout);
        var format = ExportFormats.Parse(options.ExportFormat ?? flags.GetValueOrDefault("export-format", "compressed-tensors"));
        if (int.TryParse(flags.GetValueOrDefault("bits"), NumberStyles.None, CultureInfo.InvariantCulture, out var bits))
        {
            format.RequireBits(bits);
        }

        var model = ModelFolder(options.ModelPath, flags);
        if (TorchWorkloadFactory.Fingerprint(model) != flags.GetValueOrDefault("model"))
        {
            throw new UserInputException(
                $"{model} is not the model the run in {layout.SaveDir} quantized (its fingerprint differs from run.json's \"model\"); pass the original checkpoint with --model-name-or-path");
        }

        var config = DeepseekV3Config.Load(Path.Combine(model, "config.json"));
        return CheckpointExporter.Export(new ExportRequest
        {
            ModelFolder = model,
            UnitStateFiles = RunState.UnitFiles(layout, config, flags.GetValueOrDefault("quantize-only-experts") == "true"),
            OutputFolder = options.Output ?? layout.SaveDir,
            Format = format,
            KeepMtp = options.KeepMtp,
            Overwrite = options.Overwrite,
            MaxShardBytes = options.MaxShardBytes,
            Threads = options.Threads ?? Environment.ProcessorCount,
            RelDamp = double.TryParse(flags.GetValueOrDefault("rel-damp"), NumberStyles.Float, CultureInfo.InvariantCulture, out var damp) ? damp : 0.01,
            Provenance = new ExportProvenance(
                SystemReport.InformationalVersion(typeof(RunExport).Assembly),
                flags.GetValueOrDefault("model", ""),
                flags.GetValueOrDefault("dataset-name-or-path", ""),
                flags),
        });
    }

    /// <summary>Prints where the checkpoint is, what was dropped or kept, and what will not load where.</summary>
    public static void Report(ExportResult result, TextWriter output)
    {
        foreach (var note in result.Notes)
        {
            output.WriteLine(note);
        }

        foreach (var warning in result.Warnings)
        {
            output.WriteLine($"warning: {warning}");
        }

        var shards = result.Files.Count(f => f.EndsWith(".safetensors", StringComparison.Ordinal));
        output.WriteLine($"checkpoint: {result.Folder} ({result.Format.Name()}, {result.Scheme.Bits}-bit, {result.QuantizedLinears} quantized linears, {shards} shard(s))");
    }

    private static string ModelFolder(string? explicitPath, IReadOnlyDictionary<string, string> flags)
    {
        if (explicitPath is { Length: > 0 })
        {
            return Directory.Exists(explicitPath) ? Path.GetFullPath(explicitPath) : throw new UserInputException($"--model-name-or-path {explicitPath}: folder does not exist");
        }

        var recorded = flags.GetValueOrDefault(RunDirectory.ModelPathKey, "");
        return recorded.Length == 0 ? BuiltInModel.Folder
            : Directory.Exists(recorded) ? recorded
            : throw new UserInputException($"the model folder run.json names, {recorded}, does not exist; pass the original checkpoint with --model-name-or-path");
    }
}
