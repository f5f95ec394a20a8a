using System.Text.Json;
using System.Text.Json.Nodes;
using MoeQuant.Coordinator.Cli;
using MoeQuant.Coordinator.Hosting;
using MoeQuant.Coordinator.Tests.Pipeline;
using MoeQuant.Model;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Inspection;

namespace MoeQuant.Coordinator.Tests.Cli;

/// <summary>`moequant synth-model`, and the rest of the product on what it writes.</summary>
[Collection(ProcessEnvironment.Collection)]
public sealed class SynthModelCommandTests : IDisposable
{
    /// <summary>1 dense + 1 MoE layer, 4 experts in 2 groups, every width shrunk; 4 calibration lines of 32 ids.</summary>
    private static readonly string[] TinyFlags =
    [
        "--num-hidden-layers", "2", "--first-k-dense-replace", "1", "--vocab-size", "256", "--hidden-size", "64",
        "--intermediate-size", "96", "--moe-intermediate-size", "32", "--num-attention-heads", "2", "--q-lora-rank", "32",
        "--kv-lora-rank", "32", "--qk-nope-head-dim", "16", "--qk-rope-head-dim", "8", "--v-head-dim", "16",
        "--n-routed-experts", "4", "--num-experts-per-tok", "2", "--n-group", "2", "--topk-group", "1",
        "--calibration-samples", "4", "--sequence-length", "32",
    ];

    private readonly string _root = Directory.CreateTempSubdirectory("moequant-synth-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Should_write_a_model_that_inspect_finds_complete_and_as_its_config_says()
    {
        var model = Path.Combine(_root, "model");

        var written = await Run(["synth-model", "--output", model, "--max-shard-size", "100KB", "--seed", "3", .. TinyFlags]);
        var inspected = await Run(["inspect", model, "--json"]);

        Assert.True(written.ExitCode == 0, written.Error);
        Assert.Contains("MB/s", written.Output, StringComparison.Ordinal);
        Assert.True(inspected.ExitCode == 0, inspected.Error);
        var summary = JsonSerializer.Deserialize<CheckpointSummary>(inspected.Output, CheckpointSummary.JsonOptions)!;
        Assert.Equal((1, 1, 0), (summary.DenseLayers, summary.MoeLayers, summary.MtpLayers));
        Assert.Equal((0, 0, 0), (summary.Check.Missing.Length, summary.Check.Unexpected.Length, summary.Check.Mismatched.Length));
        Assert.True(summary.IsFp8);
        Assert.Equal(4, summary.ByLayer.Single(l => l.Index == 1).ExpertsFound);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "config.json")))!;
        Assert.Equal((64, 256, "fp8"), ((int)config["hidden_size"]!, (int)config["vocab_size"]!, (string)config["quantization_config"]!["quant_method"]!));
        Assert.Equal(40, (int)config["rope_scaling"]!["factor"]!);
        Assert.True(File.Exists(Path.Combine(model, ShardedCheckpoint.IndexFileName)));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(model, "calibration.jsonl")).Length);
    }

    [Fact]
    public async Task Should_refuse_sizes_that_do_not_fit_and_a_folder_that_holds_a_model_naming_the_fix()
    {
        var model = Path.Combine(_root, "model");

        var misfit = await Run(["synth-model", "--output", model, .. TinyFlagsWith("--n-group", "3")]);
        var first = await Run(["synth-model", "--output", model, .. TinyFlags]);
        var again = await Run(["synth-model", "--output", model, .. TinyFlags]);
        var badSize = await Run(["synth-model", "--output", model, "--max-shard-size", "lots", .. TinyFlags]);

        Assert.Equal(UserErrorAction.ExitCode, misfit.ExitCode);
        Assert.Contains("n_group", misfit.Error, StringComparison.Ordinal);
        Assert.Equal(0, first.ExitCode);
        Assert.Equal(UserErrorAction.ExitCode, again.ExitCode);
        Assert.Contains("--overwrite", again.Error, StringComparison.Ordinal);
        Assert.Equal(UserErrorAction.ExitCode, badSize.ExitCode);
    }

    [Theory]
    [InlineData("5GB", 5_000_000_000L)]
    [InlineData("500MB", 500_000_000L)]
    [InlineData("4GiB", 4L << 30)]
    [InlineData("1000", 1000L)]
    public void Should_read_shard_sizes_as_transformers_writes_them(string text, long bytes) =>
        Assert.Equal(bytes, SynthModelCommand.ParseSize(text));

    [Fact]
    public async Task Should_quantize_and_export_a_generated_model_without_a_tokenizer_on_its_own_calibration_ids()
    {
        var model = Path.Combine(_root, "model");
        var saveDir = Path.Combine(_root, "quantized");
        Assert.Equal(0, (await Run(["synth-model", "--output", model, .. TinyFlags])).ExitCode);

        var run = await Run(["quantize", "--model-name-or-path", model, "--dataset-name-or-path", Path.Combine(model, "calibration.jsonl"),
            "--num-calibration-samples", "4", "--max-sequence-length", "32", "--bits", "4", "--group-size", "16", "--sym", "--devices", "cpu", "--save-dir", saveDir]);

        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        Assert.DoesNotContain("perplexity", run.Output, StringComparison.OrdinalIgnoreCase);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(saveDir, "config.json")))!;
        Assert.Equal("compressed-tensors", (string)config["quantization_config"]!["quant_method"]!);
        Assert.True(File.Exists(Path.Combine(saveDir, "generation_config.json")));
        Assert.False(File.Exists(Path.Combine(saveDir, "tokenizer.json")));
        using var checkpoint = ShardedCheckpoint.Open(saveDir);
        Assert.True(checkpoint.Contains("model.layers.1.mlp.experts.3.down_proj.weight_packed"));
    }

    private static string[] TinyFlagsWith(string flag, string value) =>
        [.. TinyFlags.Select((f, i) => i > 0 && TinyFlags[i - 1] == flag ? value : f)];

    private static Task<CliRun> Run(string[] args) =>
        CliRun.InvokeAsync(MoeQuantCli.Build(new CheckpointHeaderReader(), new TorchWorkloadFactory()), args);
}
