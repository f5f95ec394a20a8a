using MoeQuant.Coordinator.Cli;
using MoeQuant.Coordinator.Tests.Cli;

namespace MoeQuant.Coordinator.Tests.Pipeline;

/// <summary>`moequant quantize` end to end on the fake workload, in process.</summary>
[Collection(ProcessEnvironment.Collection)]
public sealed class QuantizeCommandTests : IDisposable
{
    private readonly SaveDirs _dirs = new();

    [Fact]
    public async Task Should_write_byte_identical_output_on_one_or_three_devices_and_across_runs()
    {
        var one = await Quantize("one", "--devices", "cpu");
        var three = await Quantize("three", "--devices", "cpu:3");
        var again = await Quantize("again", "--devices", "cpu");

        Assert.Equal(0, one.ExitCode);
        Assert.Contains("done: all 3 layers quantized", one.Output, StringComparison.Ordinal);
        var expected = SaveDirs.Outputs(_dirs.New("one"));
        Assert.Contains("layers/002/mlp.experts.3.gate_up_proj.safetensors", expected.Keys);
        Assert.DoesNotContain(expected.Keys, f => f.StartsWith("activations/", StringComparison.Ordinal)); // released as layers commit
        Assert.Contains("report/units.json", expected.Keys);
        Assert.Contains("report/loss-by-layer.png", expected.Keys);
        Assert.Contains("report/summary.md", expected.Keys);
        Assert.Equal(expected, SaveDirs.Outputs(_dirs.New("three")));
        Assert.Equal(expected, SaveDirs.Outputs(_dirs.New("again")));
        Assert.Equal((0, 0), (three.ExitCode, again.ExitCode));
    }

    [Fact]
    public async Task Should_do_nothing_when_the_run_is_finished()
    {
        await Quantize("done", "--devices", "cpu:2");
        var before = SaveDirs.Outputs(_dirs.New("done"));

        var rerun = await Quantize("done", "--devices", "cpu:2", "--resume");

        Assert.Equal(0, rerun.ExitCode);
        Assert.Contains("nothing to do: all 3 layers are quantized already", rerun.Output, StringComparison.Ordinal);
        Assert.Equal(before, SaveDirs.Outputs(_dirs.New("done")));
    }

    [Fact]
    public async Task Should_refuse_to_resume_with_different_flags_naming_the_flag()
    {
        await Quantize("flags", "--devices", "cpu");

        var resumed = await Quantize("flags", "--resume", "--bits", "3");

        Assert.Equal(2, resumed.ExitCode);
        Assert.Contains("different --bits: 4 there, 3 now", resumed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_refuse_an_unrelated_non_empty_save_dir_unless_overwrite()
    {
        var dir = _dirs.New("unrelated");
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "notes.txt"), "mine");

        var refused = await Quantize("unrelated");
        var overwritten = await Quantize("unrelated", "--overwrite", "--devices", "cpu");

        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("is not empty and holds no MoeQuant run", refused.Error, StringComparison.Ordinal);
        Assert.Equal(0, overwritten.ExitCode);
        Assert.Equal("mine", await File.ReadAllTextAsync(Path.Combine(dir, "notes.txt")));
    }

    [Fact]
    public async Task Should_finish_the_run_and_log_a_warning_when_the_report_cannot_be_written()
    {
        var dir = _dirs.New("blocked");
        Directory.CreateDirectory(dir);
        // A file where the report folder belongs, so that every report write fails.
        await File.WriteAllTextAsync(Path.Combine(dir, "report"), "in the way");

        var run = await Quantize("blocked", "--overwrite", "--devices", "cpu");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("done: all 3 layers quantized", run.Output, StringComparison.Ordinal);
        var logs = string.Concat(Directory.EnumerateFiles(Path.Combine(dir, "logs")).Select(File.ReadAllText));
        Assert.Contains("Quality report not written at layer 2", logs, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--devices 3", "--devices 3: there is no CUDA device 3 (this machine has no CUDA device; use --devices cpu)")]
    [InlineData("--devices cpu:0", "--devices cpu:0: cpu:N needs a count from 1 to 64")]
    [InlineData("--bits 5", "--bits must be one of 2, 3, 4, 8 (got 5)")]
    [InlineData("--quantization_order random", "--quantization-order must be one of default, activation (got 'random')")]
    [InlineData("--method best", "--method must be one of gptq, rtn (got 'best')")]
    [InlineData("--num-calibration-samples 0", "--num-calibration-samples must be between 1 and 1048576")]
    [InlineData("--resume --overwrite", "--resume and --overwrite contradict each other")]
    [InlineData("--resume", "holds no MoeQuant run to resume")]
    public async Task Should_reject_bad_input_with_a_message_naming_the_flag(string flags, string message)
    {
        var run = await Quantize("bad", flags.Split(' '));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dirs.New("bad"), "run.json")));
    }

    [Fact]
    public async Task Should_accept_snake_case_flags_and_environment_settings()
    {
        Environment.SetEnvironmentVariable("MoeQuant__Gptq__GroupSize", "4");
        try
        {
            var run = await Quantize("snake", "--rel_damp", "0.1", "--num_calibration_samples", "64", "--devices", "cpu");

            Assert.Equal(0, run.ExitCode);
            var fingerprint = await File.ReadAllTextAsync(Path.Combine(_dirs.New("snake"), "run.json"));
            Assert.Contains("\"rel-damp\": \"0.1\"", fingerprint, StringComparison.Ordinal);
            Assert.Contains("\"group-size\": \"4\"", fingerprint, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("MoeQuant__Gptq__GroupSize", null);
        }
    }

    public void Dispose() => _dirs.Dispose();

    private Task<CliRun> Quantize(string saveDir, params string[] flags) => CliRun.InvokeAsync(
        MoeQuantCli.Build(new FakeHeaderReader([]), new FakeWorkloadFactory()),
        ["quantize", "--save-dir", _dirs.New(saveDir), "--config", _dirs.SerializeMessagesConf, .. flags]);
}
