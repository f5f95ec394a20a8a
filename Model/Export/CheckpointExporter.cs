using System.Text.Json.Nodes;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;
using MoeQuant.Model.Quantized;

namespace MoeQuant.Model.Export;

/// <summary>
/// Writes a run's quantized state and the original checkpoint as one checkpoint that transformers and vLLM load:
/// safetensors shards with their index, config.json with the format's <c>quantization_config</c> (the FP8 one
/// removed), the tokenizer, generation config and remote code, and moequant.json, written last as the mark of a
/// complete export. Tensors are made and written <see cref="ExportRequest.Threads"/> at a time, each straight to its
/// place in its shard, so memory stays at that many tensors whatever the model's size and the bytes do not depend on the
/// thread count; every file appears under its final name only when complete.
/// </summary>
public static class CheckpointExporter
{
    /// <summary>What MoeQuant writes beside the checkpoint: its version, the run's flags and the export's facts.</summary>
    public const string ProvenanceFileName = "moequant.json";

    /// <summary>Whether <paramref name="folder"/> holds a complete export (its moequant.json).</summary>
    public static bool IsExported(string folder) => File.Exists(Path.Combine(folder, ProvenanceFileName));

    /// <summary>Exports <paramref name="request"/>'s state. Everything is checked before the first byte is written.</summary>
    /// <exception cref="UserInputException">The output holds a checkpoint and overwriting was not asked for; the state
    /// does not belong to the model, mixes schemes, or has bits or shapes the format cannot store.</exception>
    public static ExportResult Export(ExportRequest request)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(request.Threads);
        var output = Path.TrimEndingDirectorySeparator(Path.GetFullPath(request.OutputFolder));
        var modelFolder = Path.TrimEndingDirectorySeparator(Path.GetFullPath(request.ModelFolder));
        CheckOutput(output, modelFolder, request.Overwrite);
        var configPath = Path.Combine(modelFolder, "config.json");
        var config = DeepseekV3Config.Load(configPath);
        var linears = request.UnitStateFiles.SelectMany(UnitStateFile.Describe).ToList();
        var scheme = QuantizationScheme.Of(linears);
        request.Format.RequireBits(scheme.Bits);
        ILinearFormat format = request.Format == ExportFormat.GptqV1 ? new GptqV1Format(scheme, request.RelDamp) : new CompressedTensorsFormat(scheme);
        format.Check(linears);

        using var checkpoint = ShardedCheckpoint.Open(modelFolder);
        var plan = ExportPlan.Create(config, checkpoint, linears, request.KeepMtp);
        var mtpLayers = Enumerable.Range(config.NumHiddenLayers, config.NumNextnPredictLayers).ToList();
        var unquantized = UnquantizedModules.Of(config, plan.Quantized.Keys.ToHashSet(StringComparer.Ordinal), request.KeepMtp ? mtpLayers : []);
        var notes = Notes(mtpLayers, request.KeepMtp, unquantized);
        var warnings = scheme.VllmLimits().Concat(FallbackWarnings(unquantized)).ToList();

        // A crash from here on must not leave an earlier export looking complete.
        Directory.CreateDirectory(output);
        File.Delete(Path.Combine(output, ProvenanceFileName));
        var entries = plan.Entries(format);
        var files = new List<string>(request.Threads == 1
            ? SafetensorsWriter.WriteSharded(output, entries, request.MaxShardBytes)
            : SafetensorsWriter.WriteShardedParallel(output, entries, request.MaxShardBytes, request.Threads));
        files.Add(ExportFiles.WriteJson(Path.Combine(output, "config.json"), Config(configPath, format.QuantizationConfig(unquantized), dropMtp: !request.KeepMtp && mtpLayers.Count > 0)));
        files.AddRange(format.ExtraFiles(unquantized).Select(f => ExportFiles.WriteJson(Path.Combine(output, f.Key), f.Value)));
        files.AddRange(ExportFiles.CopySideFiles(modelFolder, output));
        var result = new ExportResult(output, request.Format, scheme, linears.Count, unquantized, files, notes, warnings);
        files.Add(ExportFiles.WriteJson(Path.Combine(output, ProvenanceFileName), Provenance(request, result, mtpLayers)));
        ExportFiles.RemoveStale(output, files);
        return result;
    }

    private static void CheckOutput(string output, string modelFolder, bool overwrite)
    {
        if (string.Equals(output, modelFolder, StringComparison.Ordinal))
        {
            throw new UserInputException($"{output} is the original model's folder; export into another folder");
        }

        if (ExportFiles.CheckpointFiles(output) is { Count: > 0 } existing && !overwrite)
        {
            throw new UserInputException($"{output} already holds a checkpoint ({Path.GetFileName(existing[0])}); pass --overwrite to replace it, or choose another --output");
        }
    }

    /// <summary>The original config.json with the new quantization_config, and no MTP layers when they were dropped.</summary>
    private static JsonObject Config(string configPath, JsonObject quantizationConfig, bool dropMtp)
    {
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config.Remove("quantization_config");
        if (dropMtp)
        {
            config["num_nextn_predict_layers"] = 0;
        }

        config["quantization_config"] = quantizationConfig;
        return config;
    }

    private static List<string> Notes(List<int> mtpLayers, bool keepMtp, UnquantizedModules unquantized)
    {
        var notes = new List<string>();
        var layers = string.Join(", ", mtpLayers.Select(l => $"model.layers.{l}"));
        if (mtpLayers.Count > 0)
        {
            notes.Add(keepMtp
                ? $"kept the MTP layer(s) {layers} unquantized (bf16) and listed them in the ignore list"
                : $"dropped the MTP layer(s) {layers} (num_nextn_predict_layers set to 0; pass --keep-mtp to keep them unquantized)");
        }

        if (unquantized.Fallbacks.Count > 0)
        {
            notes.Add($"{unquantized.Fallbacks.Count} linear(s) kept their original weights (bf16) after quantization failed, listed in the ignore list: {Shorten(unquantized.Fallbacks)}");
        }

        return notes;
    }

    // vLLM fuses a layer's experts into one kernel with one weight format.
    private static IEnumerable<string> FallbackWarnings(UnquantizedModules unquantized) =>
        unquantized.Fallbacks.Where(f => f.Contains(".mlp.experts.", StringComparison.Ordinal)).ToList() is { Count: > 0 } experts
            ? [$"vLLM cannot load a layer whose experts are partly quantized; these experts kept their original weights: {Shorten(experts)} (HF transformers loads it)"]
            : [];

    private static string Shorten(IReadOnlyList<string> names) => string.Join(", ", names.Take(5)) + (names.Count > 5 ? $" and {names.Count - 5} more" : "");

    private static JsonObject Provenance(ExportRequest request, ExportResult result, List<int> mtpLayers) => new()
    {
        ["moequant_version"] = request.Provenance.MoeQuantVersion,
        ["export_format"] = result.Format.Name(),
        ["scheme"] = new JsonObject
        {
            ["bits"] = result.Scheme.Bits,
            ["group_size"] = result.Scheme.GroupSize,
            ["symmetric"] = result.Scheme.Symmetric,
            ["dynamic_groups"] = result.Scheme.DynamicGroups,
        },
        ["quantized_linears"] = result.QuantizedLinears,
        ["ignore"] = new JsonArray([.. result.Unquantized.Ignore.Select(i => (JsonNode?)i)]),
        ["fallbacks"] = new JsonArray([.. result.Unquantized.Fallbacks.Select(i => (JsonNode?)i)]),
        ["mtp_layers"] = new JsonArray([.. mtpLayers.Select(l => (JsonNode?)l)]),
        ["mtp"] = mtpLayers.Count == 0 ? "none" : request.KeepMtp ? "kept unquantized" : "dropped",
        ["model_hash"] = request.Provenance.ModelHash,
        ["dataset"] = request.Provenance.Dataset,
        ["run"] = new JsonObject(request.Provenance.RunFlags.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => KeyValuePair.Create(f.Key, (JsonNode?)f.Value))),
        ["notes"] = new JsonArray([.. result.Notes.Select(n => (JsonNode?)n)]),
        ["warnings"] = new JsonArray([.. result.Warnings.Select(w => (JsonNode?)w)]),
    };
}
