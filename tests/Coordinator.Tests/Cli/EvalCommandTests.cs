using System.Text.Json;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Evaluation;
using MoeQuant.Model.TinyModel;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Tests.Cli;

public sealed class EvalCommandTests : IDisposable
{
    private static readonly int[][] Sequences = [[3, 1, 4, 1, 5, 9, 2, 6], [5, 3, 5], [8, 9, 7, 9, 3]];

    private readonly string _folder = Directory.CreateTempSubdirectory("moequant-eval-").FullName;
    private readonly string _model;
    private readonly string _inputIds;

    public EvalCommandTests()
    {
        _model = TinyCheckpoint.EnsureWritten(Path.Combine(_folder, "tiny"));
        _inputIds = Path.Combine(_folder, "ids.jsonl");
        // One line too short to predict anything: skipped and counted.
        File.WriteAllLines(_inputIds, [.. Sequences.Select(s => JsonSerializer.Serialize(s)), "[42]"]);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static Task<CliRun> Eval(params string[] args) => CliRun.InvokeAsync(new CheckpointHeaderReader(), ["eval", .. args]);

    [Fact]
    public async Task Should_print_one_json_object_whose_mean_nll_is_the_evaluators_on_the_same_ids()
    {
        var run = await Eval("--model-name-or-path", _model, "--input-ids", _inputIds, "--dtype", "float32", "--devices", "cpu", "--json");

        Assert.Equal((0, "warning: skipped 1 lines with fewer than 2 token ids"), (run.ExitCode, run.Error.TrimEnd()));
        using var json = JsonDocument.Parse(run.Output);
        var root = json.RootElement;
        foreach (var key in new[] { "mean_nll", "perplexity", "tokens", "sequences", "skipped", "dtype", "device", "model", "seconds" })
        {
            Assert.True(root.TryGetProperty(key, out _), $"no \"{key}\" in {run.Output}");
        }

        Assert.Equal((13, 3, 1), (root.GetProperty("tokens").GetInt64(), root.GetProperty("sequences").GetInt32(), root.GetProperty("skipped").GetInt32()));
        Assert.Equal(("float32", "cpu", _model, "fp8"),
            (root.GetProperty("dtype").GetString(), root.GetProperty("device").GetString(), root.GetProperty("model").GetString(), root.GetProperty("checkpoint").GetString()));
        using var model = EvalWeightSources.Open(_model);
        var expected = PerplexityEvaluator.Evaluate(model.Config, model.Weights, Sequences, new PerplexityOptions(CPU, ScalarType.Float32));
        Assert.Equal(expected.MeanNll, root.GetProperty("mean_nll").GetDouble(), 12);
        Assert.Equal(Math.Exp(root.GetProperty("mean_nll").GetDouble()), root.GetProperty("perplexity").GetDouble(), 9);
    }

    [Fact]
    public async Task Should_print_one_line_with_tokens_and_perplexity_without_json()
    {
        var run = await Eval("--model_name_or_path", _model, "--input_ids", _inputIds);

        Assert.Equal(0, run.ExitCode);
        var line = Assert.Single(run.Output.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"{_model}: 13 tokens in 3 sequences (1 skipped): mean NLL ", line, StringComparison.Ordinal);
        Assert.Contains("perplexity ", line, StringComparison.Ordinal);
        Assert.Contains("(bfloat16 on cpu, ", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_evaluate_the_built_in_model_when_no_folder_is_given()
    {
        var run = await Eval("--input-ids", _inputIds);

        Assert.Equal(0, run.ExitCode);
        Assert.StartsWith($"built-in model {BuiltInModel.Folder}: 13 tokens in 3 sequences", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_draw_and_cut_dataset_samples_as_calibration_does()
    {
        var run = await Eval("--model-name-or-path", _model, "--dataset-name-or-path", _inputIds, "--num-samples", "2",
            "--max-sequence-length", "4", "--json");

        Assert.Equal(0, run.ExitCode);
        using var json = JsonDocument.Parse(run.Output);
        // Two samples of at most 4 tokens: at most 3 predicted each; the 1-token row is skipped if drawn.
        Assert.Equal(2, json.RootElement.GetProperty("sequences").GetInt32());
        Assert.InRange(json.RootElement.GetProperty("tokens").GetInt64(), 3, 6);
    }

    [Fact]
    public async Task Should_exit_2_with_one_line_and_no_stack_trace_when_the_checkpoint_is_corrupt()
    {
        var shard = Path.Combine(_model, ShardedCheckpoint.SingleFileName);
        using (var file = File.OpenWrite(shard))
        {
            file.SetLength(file.Length - 100);
        }

        var run = await Eval("--model-name-or-path", _model, "--input-ids", _inputIds, "--json");

        Assert.Equal((2, ""), (run.ExitCode, run.Output));
        var line = Assert.Single(run.Error.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: {shard}: tensor '", line, StringComparison.Ordinal);
        Assert.Contains("truncated", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_exit_2_naming_the_folder_when_it_does_not_exist()
    {
        var missing = Path.Combine(_folder, "nope");

        var run = await Eval("--model-name-or-path", missing, "--input-ids", _inputIds);

        Assert.Equal((2, "", $"error: --model-name-or-path {missing}: folder does not exist"), (run.ExitCode, run.Output, run.Error.TrimEnd()));
    }

    [Fact]
    public async Task Should_exit_2_naming_file_and_line_of_a_token_id_outside_the_vocabulary()
    {
        File.AppendAllLines(_inputIds, ["[1, 2, 1024]"]);

        var run = await Eval("--model-name-or-path", _model, "--input-ids", _inputIds);

        Assert.Equal((2, $"error: {_inputIds}:5: 1024 is not a token id of this model (an integer from 0 to 1023)"), (run.ExitCode, run.Error.TrimEnd()));
    }

    [Theory]
    [InlineData("give the evaluation data: --dataset-name-or-path NAME|PATH or --input-ids FILE.jsonl", "--model-name-or-path", "model")]
    [InlineData("give --input-ids or --dataset-name-or-path, not both", "--input-ids", "a.jsonl", "--dataset-name-or-path", "b.jsonl")]
    [InlineData("--num-samples, --max-sequence-length and --seed apply to --dataset-name-or-path", "--input-ids", "a.jsonl", "--num-samples", "3")]
    [InlineData("--dtype float16: eval computes in bfloat16 or float32", "--input-ids", "a.jsonl", "--dtype", "float16")]
    public async Task Should_exit_2_explaining_flags_that_cannot_work(string message, params string[] args)
    {
        var run = await Eval(args);

        Assert.Equal((2, ""), (run.ExitCode, run.Output));
        Assert.Contains(message, run.Error, StringComparison.Ordinal);
    }
}
