using System.Text.Json.Nodes;
using MoeQuant.Coordinator.Packing;
using MoeQuant.Coordinator.Tests.Pipeline;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Export;
using MoeQuant.Model.Forward;
using MoeQuant.Model.TinyModel;
using static MoeQuant.Coordinator.Tests.Packing.ExportAssertions;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Tests.Packing;

/// <summary>`moequant quantize` exporting after its last layer and `moequant pack`, on real runs of the tiny model:
/// everything read back is compared with the run's state files and the original checkpoint.</summary>
[Collection(ProcessEnvironment.Collection)]
public sealed partial class PackCommandTests(QuantizedRuns runs) : IClassFixture<QuantizedRuns>
{
    private static readonly string[] CompressedTensors = [".weight_packed", ".weight_scale", ".weight_shape"];

    [Fact]
    public async Task Should_export_after_the_last_layer_a_checkpoint_whose_weights_read_back_exactly()
    {
        var (saveDir, run) = await runs.Get(QuantizedRuns.W4);

        Assert.Contains($"checkpoint: {saveDir} (compressed-tensors, 4-bit, 104 quantized linears, 1 shard(s))", run.Output, StringComparison.Ordinal);
        Assert.Contains("dropped the MTP layer(s) model.layers.4", run.Output, StringComparison.Ordinal);
        Assert.Equal(104, AssertQuantizedWeightsExact(saveDir, saveDir));
        AssertTensors(saveDir, Quantized(saveDir), keepMtp: false, CompressedTensors);

        var config = Json(Path.Combine(saveDir, "config.json"));
        var q = config["quantization_config"]!;
        var weights = q["config_groups"]!["group_0"]!["weights"]!;
        Assert.Equal(("compressed-tensors", "pack-quantized"), ((string?)q["quant_method"], (string?)q["format"]));
        Assert.Equal((4, 16, true, "group", null), ((int)weights["num_bits"]!, (int)weights["group_size"]!, (bool)weights["symmetric"]!, (string?)weights["strategy"], (string?)weights["actorder"]));
        Assert.Equal(["lm_head", @"re:.*mlp\.gate$"], Strings(q["ignore"]));
        Assert.Equal(0, (int)config["num_nextn_predict_layers"]!);

        var provenance = Json(Path.Combine(saveDir, CheckpointExporter.ProvenanceFileName));
        var runFile = Json(Path.Combine(saveDir, "run.json"));
        Assert.Equal(("dropped", "4", (string?)runFile["model"]), ((string?)provenance["mtp"], (string?)provenance["run"]!["bits"], (string?)provenance["model_hash"]));
        Assert.False(string.IsNullOrEmpty((string?)provenance["moequant_version"]));
    }

    [Fact]
    public async Task Should_load_every_layer_for_the_forward_from_the_packed_checkpoint()
    {
        var (saveDir, _) = await runs.Get(QuantizedRuns.W4);
        using var export = CompressedTensorsCheckpoint.Open(saveDir);

        for (var layer = 0; layer < export.Config.NumHiddenLayers; layer++)
        {
            using var weights = DecoderLayerWeights.Load(export.Config, layer, export.Weights, CPU, ScalarType.Float32);
            Assert.Equal(layer, weights.Layer);
        }
    }

    [Fact]
    public async Task Should_keep_the_mtp_layer_unquantized_with_keep_mtp()
    {
        var (saveDir, _) = await runs.Get(QuantizedRuns.W4);
        var output = runs.NewFolder("keep-mtp");

        var pack = await QuantizedRuns.Invoke("pack", "--save-dir", saveDir, "--output", output, "--keep-mtp");

        Assert.True(pack.ExitCode == 0, pack.Error);
        Assert.Contains("kept the MTP layer(s) model.layers.4 unquantized", pack.Output, StringComparison.Ordinal);
        AssertTensors(output, Quantized(saveDir), keepMtp: true, CompressedTensors);
        var config = Json(Path.Combine(output, "config.json"));
        Assert.Equal(["lm_head", @"re:.*mlp\.gate$", @"re:model\.layers\.4\..*"], Strings(config["quantization_config"]!["ignore"]));
        Assert.Equal(1, (int)config["num_nextn_predict_layers"]!);
        Assert.Equal("kept unquantized", (string?)Json(Path.Combine(output, CheckpointExporter.ProvenanceFileName))["mtp"]);
    }

    [Fact]
    public async Task Should_split_into_shards_with_an_index_past_the_shard_limit()
    {
        var (saveDir, _) = await runs.Get(QuantizedRuns.W4);
        var output = runs.NewFolder("sharded");

        var result = RunExport.Run(new PackOptions(saveDir, output, null, KeepMtp: false, Overwrite: false, ModelPath: null, MaxShardBytes: 64 << 10));

        var shards = Directory.GetFiles(output, "model-*.safetensors");
        Assert.True(shards.Length > 1, $"{shards.Length} shard(s)");
        Assert.True(File.Exists(Path.Combine(output, ShardedCheckpoint.IndexFileName)));
        Assert.False(File.Exists(Path.Combine(output, ShardedCheckpoint.SingleFileName)));
        using var single = ShardedCheckpoint.Open(saveDir);
        using var sharded = ShardedCheckpoint.Open(output);
        Assert.Equal(single.Tensors.Select(t => t.Name), sharded.Tensors.Select(t => t.Name));
        Assert.All(single.Tensors, t => Assert.True(single.GetBytes(t.Name).SequenceEqual(sharded.GetBytes(t.Name)), t.Name));
        Assert.Equal(104, result.QuantizedLinears);
    }

    [Fact]
    public async Task Should_read_back_asymmetric_8_bit_zero_points_exactly_and_warn_that_vllm_cannot_serve_them()
    {
        var (saveDir, run) = await runs.Get(QuantizedRuns.W8Asymmetric);

        Assert.Contains("warning: vLLM's MoE kernels accept symmetric quantization only", run.Output, StringComparison.Ordinal);
        Assert.Equal(104, AssertQuantizedWeightsExact(saveDir, saveDir));
        AssertTensors(saveDir, Quantized(saveDir), keepMtp: false, [.. CompressedTensors, ".weight_zero_point"]);
        using var export = ShardedCheckpoint.Open(saveDir);
        Assert.Equal(SafetensorsDtype.BF16, export.GetHeader("model.layers.1.mlp.experts.0.up_proj.weight_scale").Dtype);
        Assert.False((bool)Json(Path.Combine(saveDir, "config.json"))["quantization_config"]!["config_groups"]!["group_0"]!["weights"]!["symmetric"]!);
    }

    [Theory]
    [InlineData(QuantizedRuns.W4, 4)]
    [InlineData(QuantizedRuns.W8Asymmetric, 8)]
    public async Task Should_write_gptq_v1_whose_words_unpack_to_the_state(string run, int bits)
    {
        var (saveDir, _) = await runs.Get(run);
        var output = runs.NewFolder("gptq");

        var pack = await QuantizedRuns.Invoke("pack", "--save-dir", saveDir, "--output", output, "--export-format", "gptq-v1");

        Assert.True(pack.ExitCode == 0, pack.Error);
        AssertTensors(output, Quantized(saveDir), keepMtp: false, ".qweight", ".qzeros", ".scales", ".g_idx");
        var quantizeConfig = Json(Path.Combine(output, "quantize_config.json"));
        Assert.True(JsonNode.DeepEquals(quantizeConfig, Json(Path.Combine(output, "config.json"))["quantization_config"]));
        Assert.Equal((bits, 16, bits == 4, false, "gptq", "gptq"), ((int)quantizeConfig["bits"]!, (int)quantizeConfig["group_size"]!, (bool)quantizeConfig["sym"]!,
            (bool)quantizeConfig["desc_act"]!, (string?)quantizeConfig["quant_method"], (string?)quantizeConfig["checkpoint_format"]));
        using var export = ShardedCheckpoint.Open(output);
        var linears = StateLinears(saveDir);
        try
        {
            foreach (var linear in linears)
            {
                GptqV1Unpacked.AssertMatches(export, linear, bits);
            }
        }
        finally
        {
            linears.ForEach(l => l.Dispose());
        }
    }

    [Fact]
    public async Task Should_export_3_bit_and_warn_that_vllm_cannot_serve_it()
    {
        var (saveDir, run) = await runs.Get(QuantizedRuns.W3);

        Assert.Contains("warning: vLLM serves 4- and 8-bit weights only", run.Output, StringComparison.Ordinal);
        Assert.Equal(104, AssertQuantizedWeightsExact(saveDir, saveDir));
        AssertTensors(saveDir, Quantized(saveDir), keepMtp: false, CompressedTensors);
        Assert.Equal(3, (int)Json(Path.Combine(saveDir, "config.json"))["quantization_config"]!["config_groups"]!["group_0"]!["weights"]!["num_bits"]!);
    }

    [Fact]
    public async Task Should_list_each_unquantized_kind_once_for_a_run_of_routed_experts_only()
    {
        // What a --quantize-only-experts run leaves: run.json says so, and only routed experts have results.
        var (source, _) = await runs.Get(QuantizedRuns.W4);
        var saveDir = runs.Copy(source, "experts-only");
        RunStateEdits.KeepOnlyExperts(saveDir);
        var output = runs.NewFolder("experts-only-export");

        var pack = await QuantizedRuns.Invoke("pack", "--save-dir", saveDir, "--output", output);

        Assert.True(pack.ExitCode == 0, pack.Error);
        Assert.Equal(
            ["lm_head", @"re:.*mlp\.gate$", @"re:.*mlp\.(gate|up|gate_up|down)_proj.*", "re:.*self_attn.*", "re:.*shared_experts.*"],
            Strings(Json(Path.Combine(output, "config.json"))["quantization_config"]!["ignore"]));
        Assert.Equal(3 * 8 * 3, AssertQuantizedWeightsExact(output, saveDir));
        AssertTensors(output, Quantized(saveDir), keepMtp: false, CompressedTensors);
        Assert.Empty(Strings(Json(Path.Combine(output, CheckpointExporter.ProvenanceFileName))["fallbacks"]));
    }

    [Fact]
    public async Task Should_list_a_unit_that_fell_back_to_its_original_weights_by_name()
    {
        var (source, _) = await runs.Get(QuantizedRuns.W4);
        var saveDir = runs.Copy(source, "fallback");
        RunStateEdits.MarkUnquantized(saveDir, layer: 2, unit: "mlp.experts.5.gate_proj");
        var output = runs.NewFolder("fallback-export");

        var pack = await QuantizedRuns.Invoke("pack", "--save-dir", saveDir, "--output", output);

        Assert.True(pack.ExitCode == 0, pack.Error);
        Assert.Contains("warning: vLLM cannot load a layer whose experts are partly quantized", pack.Output, StringComparison.Ordinal);
        Assert.Equal(
            ["lm_head", @"re:.*mlp\.gate$", "model.layers.2.mlp.experts.5.gate_proj", "model.layers.2.mlp.experts.5.up_proj"],
            Strings(Json(Path.Combine(output, "config.json"))["quantization_config"]!["ignore"]));
        AssertTensors(output, Quantized(saveDir), keepMtp: false, CompressedTensors);
        Assert.Equal(102, AssertQuantizedWeightsExact(output, saveDir));
    }

    [Fact]
    public async Task Should_export_on_resume_when_every_layer_is_done_but_the_checkpoint_is_not()
    {
        var (source, _) = await runs.Get(QuantizedRuns.W4);
        var saveDir = runs.Copy(source, "resume");
        var exported = new[] { "config.json", ShardedCheckpoint.SingleFileName, CheckpointExporter.ProvenanceFileName }
            .ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(saveDir, f)));
        foreach (var file in exported.Keys)
        {
            File.Delete(Path.Combine(saveDir, file));
        }

        var resumed = await QuantizedRuns.Invoke(["quantize", "--save-dir", saveDir, "--resume", .. QuantizedRuns.FlagsOf(QuantizedRuns.W4)]);
        var again = await QuantizedRuns.Invoke(["quantize", "--save-dir", saveDir, "--resume", .. QuantizedRuns.FlagsOf(QuantizedRuns.W4)]);

        Assert.True(resumed.ExitCode == 0, resumed.Error);
        Assert.Contains($"checkpoint: {saveDir} (compressed-tensors", resumed.Output, StringComparison.Ordinal);
        Assert.All(exported, f => Assert.True(f.Value.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(saveDir, f.Key))), $"{f.Key} differs from the first export"));
        Assert.Contains("nothing to do: all 4 layers are quantized already", again.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_refuse_an_existing_checkpoint_unless_told_to_overwrite_it()
    {
        var (source, _) = await runs.Get(QuantizedRuns.W4);
        var saveDir = runs.Copy(source, "overwrite");
        var before = File.ReadAllBytes(Path.Combine(saveDir, ShardedCheckpoint.SingleFileName));

        var refused = await QuantizedRuns.Invoke("pack", "--save-dir", saveDir);
        var replaced = await QuantizedRuns.Invoke("pack", "--save-dir", saveDir, "--overwrite");

        Assert.Equal(2, refused.ExitCode);
        Assert.Contains($"error: {saveDir} already holds a checkpoint", refused.Error, StringComparison.Ordinal);
        Assert.Contains("pass --overwrite", refused.Error, StringComparison.Ordinal);
        Assert.True(replaced.ExitCode == 0, replaced.Error);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(saveDir, ShardedCheckpoint.SingleFileName)));
    }

    [Fact]
    public async Task Should_replace_a_compressed_tensors_export_by_gptq_v1_without_leaving_its_files()
    {
        var (source, _) = await runs.Get(QuantizedRuns.W4);
        var saveDir = runs.Copy(source, "replace");

        var replaced = await QuantizedRuns.Invoke("pack", "--save-dir", saveDir, "--overwrite", "--export-format", "gptq-v1", "--model-name-or-path", TinyCheckpoint.EnsureWritten());

        Assert.True(replaced.ExitCode == 0, replaced.Error);
        using var export = ShardedCheckpoint.Open(saveDir);
        Assert.DoesNotContain(export.Tensors, t => t.Name.EndsWith(".weight_packed", StringComparison.Ordinal));
        Assert.Equal("gptq", (string?)Json(Path.Combine(saveDir, "config.json"))["quantization_config"]!["quant_method"]);
    }

    [Theory]
    [InlineData("--model-name-or-path", "is not the model the run in")]
    [InlineData("journal", "the run is incomplete: layer 3 of 4 is not done")]
    [InlineData("state", "is missing: the quantized state of unit model.layers.2.mlp.experts.5.gate_proj")]
    public async Task Should_refuse_state_that_is_incomplete_or_of_another_model(string damage, string message)
    {
        var (source, _) = await runs.Get(QuantizedRuns.W4);
        var saveDir = runs.Copy(source, "damaged");
        var output = runs.NewFolder("damaged-export");
        string[] extra = [];
        switch (damage)
        {
            case "journal":
                var journal = Path.Combine(saveDir, "journal.jsonl");
                File.WriteAllLines(journal, File.ReadAllLines(journal).Where(l => !l.Contains("\"layer\":3", StringComparison.Ordinal) && !l.Contains("\"done\"", StringComparison.Ordinal)));
                break;
            case "state":
                File.Delete(Path.Combine(saveDir, "layers", "002", "mlp.experts.5.gate_proj.safetensors"));
                break;
            default:
                var other = runs.Copy(BuiltInModel.Folder, "other-model");
                File.WriteAllText(Path.Combine(other, "config.json"), File.ReadAllText(Path.Combine(other, "config.json")).Replace("\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": 1e-05", StringComparison.Ordinal));
                extra = [damage, other];
                break;
        }

        var pack = await QuantizedRuns.Invoke(["pack", "--save-dir", saveDir, "--output", output, .. extra]);

        Assert.Equal(2, pack.ExitCode);
        Assert.Contains(message, pack.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public async Task Should_refuse_gptq_v1_for_3_bits_naming_the_formats_that_can()
    {
        var (saveDir, _) = await runs.Get(QuantizedRuns.W3);
        var output = runs.NewFolder("w3-gptq");

        var pack = await QuantizedRuns.Invoke("pack", "--save-dir", saveDir, "--output", output, "--export-format", "gptq-v1");
        var quantize = await QuantizedRuns.Invoke("quantize", "--save-dir", output, "--bits", "3", "--export-format", "gptq-v1");

        Assert.Equal((2, 2), (pack.ExitCode, quantize.ExitCode));
        foreach (var error in new[] { pack.Error, quantize.Error })
        {
            Assert.Contains("--export-format gptq-v1 cannot store 3-bit weights", error, StringComparison.Ordinal);
            Assert.Contains("formats that can: compressed-tensors", error, StringComparison.Ordinal);
        }

        Assert.False(Directory.Exists(output));
    }

    private static HashSet<string> Quantized(string saveDir)
    {
        var linears = StateLinears(saveDir);
        linears.ForEach(l => l.Dispose());
        return [.. linears.Select(l => l.Name)];
    }
}
