using System.CommandLine;
using System.Text.Json;
using MoeQuant.Coordinator.Cli;
using MoeQuant.Model;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Inspection;
using MoeQuant.Model.TinyModel;

namespace MoeQuant.Coordinator.Tests.Cli;

public sealed class InspectCommandTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("moequant-inspect-").FullName;
    private readonly FakeHeaderReader _reader = new(TinyModelConfig.TensorHeaders());

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Should_print_the_summary_as_JSON_when_given_a_folder_and_json()
    {
        File.WriteAllText(Path.Combine(_folder, "config.json"), TinyModelConfig.Json);

        var run = await CliRun.InvokeAsync(_reader, "inspect", _folder, "--json");

        Assert.Equal((0, ""), (run.ExitCode, run.Error));
        Assert.Equal([_folder], _reader.Requests);
        var summary = JsonSerializer.Deserialize<CheckpointSummary>(run.Output, CheckpointSummary.JsonOptions)!;
        Assert.Equal(("DeepseekV3ForCausalLM", 1, 3, 1), (summary.Architecture, summary.DenseLayers, summary.MoeLayers, summary.MtpLayers));
        Assert.Equal(new Totals(309, 562_832, 836_992), summary.Total);
        Assert.True(summary.IsFp8);
        Assert.Equal(8, summary.ByLayer.Single(l => l.Index == 3).ExpertsFound);
        Assert.Empty(summary.Check.Missing);
    }

    [Fact]
    public async Task Should_print_tables_when_given_a_folder_without_json()
    {
        File.WriteAllText(Path.Combine(_folder, "config.json"), TinyModelConfig.Json);

        var run = await CliRun.InvokeAsync(_reader, "inspect", _folder);

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("DeepseekV3ForCausalLM", run.Output, StringComparison.Ordinal);
        Assert.Contains("4 (1 dense, 3 MoE) + 1 MTP", run.Output, StringComparison.Ordinal);
        Assert.Contains("562,832", run.Output, StringComparison.Ordinal);
        Assert.Contains("routed_experts", run.Output, StringComparison.Ordinal);
        Assert.Contains("F8_E4M3", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_inspect_the_built_in_model_when_no_folder_is_given()
    {
        // End to end: the shipped built-in checkpoint read back through the real safetensors reader.
        var run = await CliRun.InvokeAsync(new CheckpointHeaderReader(), "inspect", "--json");

        Assert.Equal(0, run.ExitCode);
        var summary = JsonSerializer.Deserialize<CheckpointSummary>(run.Output, CheckpointSummary.JsonOptions)!;
        // metrics.json's 5 553 408 trainable parameters, plus the 3 MoE layers' 16 e_score_correction_bias values each,
        // which torch counts as buffers.
        Assert.Equal(5_553_408 + (3 * 16), summary.Total.Parameters);
        Assert.Empty(summary.Check.Missing);
        Assert.Empty(summary.Check.Mismatched);
    }

    [Fact]
    public async Task Should_exit_2_with_one_line_naming_the_folder_when_it_does_not_exist()
    {
        var missing = Path.Combine(_folder, "nope");

        var run = await CliRun.InvokeAsync(_reader, "inspect", missing);

        Assert.Equal((2, ""), (run.ExitCode, run.Output));
        Assert.Equal($"error: {missing}: checkpoint folder does not exist{Environment.NewLine}", run.Error);
    }

    [Fact]
    public async Task Should_exit_2_naming_config_json_when_the_folder_has_none()
    {
        var run = await CliRun.InvokeAsync(_reader, "inspect", _folder, "--json");

        Assert.Equal((2, ""), (run.ExitCode, run.Output));
        Assert.Equal($"error: {Path.Combine(_folder, "config.json")}: not found (a checkpoint folder must hold config.json)", run.Error.TrimEnd());
        Assert.Empty(_reader.Requests);
    }

    [Fact]
    public async Task Should_exit_2_naming_file_and_field_when_config_json_is_invalid()
    {
        File.WriteAllText(Path.Combine(_folder, "config.json"), TinyModelConfig.Json.Replace("DeepseekV3ForCausalLM", "LlamaForCausalLM", StringComparison.Ordinal));

        var run = await CliRun.InvokeAsync(_reader, "inspect", _folder);

        Assert.Equal(2, run.ExitCode);
        var line = Assert.Single(run.Error.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: {Path.Combine(_folder, "config.json")}: field \"architectures\" names LlamaForCausalLM", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_exit_2_when_the_header_reader_rejects_a_shard()
    {
        File.WriteAllText(Path.Combine(_folder, "config.json"), TinyModelConfig.Json);
        var reader = new ThrowingReader(new UserInputException("model-00001-of-00002.safetensors: header length 9999 exceeds the file\nsecond line"));

        var run = await CliRun.InvokeAsync(reader, "inspect", _folder);

        Assert.Equal(2, run.ExitCode);
        Assert.Equal("error: model-00001-of-00002.safetensors: header length 9999 exceeds the file second line", run.Error.TrimEnd());
    }

    [Fact]
    public async Task Should_exit_2_when_an_asynchronous_command_throws_a_user_input_exception()
    {
        var command = new Command("quantize");
        command.SetAction(async (_, ct) =>
        {
            await Task.Delay(1, ct);
            throw new UserInputException("--bits: must be 2, 3, 4 or 8");
        });
        var root = new RootCommand { command };
        UserErrorAction.Apply(root);

        var run = await CliRun.InvokeAsync(root, "quantize");

        Assert.Equal((2, "error: --bits: must be 2, 3, 4 or 8"), (run.ExitCode, run.Error.TrimEnd()));
    }

    private sealed class ThrowingReader(Exception exception) : ITensorHeaderReader
    {
        public IReadOnlyList<TensorHeader> ReadHeaders(string checkpointDirectory) => throw exception;
    }
}
