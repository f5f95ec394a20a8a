using System.Text.Json.Nodes;
using MoeQuant.Coordinator.Cli;
using MoeQuant.Coordinator.Tests.Cli;

namespace MoeQuant.Coordinator.Tests.Pipeline;

/// <summary>`moequant quantize` on devices that run out of memory when a calibration wave holds more than a few units:
/// the run goes on in smaller waves and writes what an uninterrupted run writes, also across a resume, and a unit that
/// does not fit on its own ends the run with a message that says what to do.</summary>
[Collection(ProcessEnvironment.Collection)]
public sealed class OutOfMemoryTests : IDisposable
{
    private readonly SaveDirs _dirs = new();

    [Fact]
    public async Task Should_finish_in_smaller_waves_and_write_what_a_run_with_enough_memory_writes()
    {
        var reference = await Quantize("reference", _ => int.MaxValue);
        // Room for two of a layer's five 256-byte Hessians: the first wave (all five) fails, and waves of at most
        // 640 B (two units) fit, for the rest of the run.
        var limited = await Quantize("limited", _ => 2);

        Assert.Equal((0, 0), (reference.ExitCode, limited.ExitCode));
        SaveDirs.AssertSameOutputs(SaveDirs.Outputs(_dirs.New("reference")), SaveDirs.Outputs(_dirs.New("limited")));
        Assert.Equal([640L], Cuts("limited"));
        Assert.Contains("done: all 3 layers quantized (in waves of at most 640 B of Hessians, not 6.00 GiB: the device ran out of memory)", limited.Output, StringComparison.Ordinal);
        var timings = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(_dirs.New("limited"), "report", "timings.json")))!;
        var event0 = Assert.Single(timings["out_of_memory"]!.AsArray())!;
        Assert.Equal((0, "calibrate", 0, "smaller waves", 640L), ((int)event0["layer"]!, (string?)event0["phase"], (int)event0["wave"]!, (string?)event0["outcome"], (long)event0["wave_bytes_after"]!));
        Assert.StartsWith("CUDA out of memory. Tried to allocate 10 GiB", (string?)event0["error"], StringComparison.Ordinal);
        Assert.Contains("wave budget cut from 6.00 GiB to 640 B for this and later layers; re-planning", Logs("limited"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_stop_with_a_message_naming_the_layer_unit_and_device_when_one_unit_alone_does_not_fit()
    {
        var run = await Quantize("hopeless", _ => 0);

        Assert.Equal(QuantizeCommand.RunFailedExitCode, run.ExitCode);
        Assert.Contains(
            "error: stopped at layer 0: unit model.layers.0.mlp.experts.0.gate_up_proj does not fit on cpu:0 on its own: out of memory in calibrate of wave 0, which holds only its 256 B fp32 Hessian",
            run.Error,
            StringComparison.Ordinal);
        Assert.Contains("resume with --offload-activations", run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Output + run.Error, StringComparison.Ordinal);
        // Halved twice before the waves were single units: 1 280 B of Hessians in one wave, then waves of 640 B, 256 B.
        Assert.Equal([640L, 256L], Cuts("hopeless"));
        Assert.DoesNotContain("   at ", Logs("hopeless"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_resume_a_run_stopped_after_smaller_waves_with_the_smaller_waves_to_the_same_bytes()
    {
        var reference = await Quantize("reference", _ => int.MaxValue);
        // Layers 0 and 1 go through in waves of one unit (two cuts at layer 0); layer 2 has no room even for one.
        var stopped = await Quantize("resumed", layer => layer < 2 ? 1 : 0);
        Assert.Equal(QuantizeCommand.RunFailedExitCode, stopped.ExitCode);
        Assert.Contains("stopped at layer 2", stopped.Error, StringComparison.Ordinal);

        var resumed = await Quantize("resumed", _ => 1, "--resume");

        Assert.True(resumed.ExitCode == 0, resumed.Error);
        Assert.Contains("resuming at layer 2", resumed.Output, StringComparison.Ordinal);
        // The resumed run started at the journaled 256 B, so it planned layer 2 in waves of one unit and never ran
        // out of memory: no cut after the two of the first run.
        Assert.Equal([640L, 256L], Cuts("resumed"));
        var layer2 = Journal("resumed").Where(e => (string?)e["event"] == "plan" && (int)e["layer"]! == 2).Select(e => ((long)e["wave_bytes"]!, (int)e["waves"]!)).ToList();
        Assert.Equal((256L, 5), layer2[^1]);
        SaveDirs.AssertSameOutputs(SaveDirs.Outputs(_dirs.New("reference")), SaveDirs.Outputs(_dirs.New("resumed")));
    }

    public void Dispose() => _dirs.Dispose();

    private List<JsonNode> Journal(string saveDir) =>
        [.. File.ReadLines(Path.Combine(_dirs.New(saveDir), "journal.jsonl")).Select(l => JsonNode.Parse(l)!)];

    /// <summary>The wave budgets the run cut to, in order.</summary>
    private List<long> Cuts(string saveDir) => [.. Journal(saveDir).Where(e => (string?)e["event"] == "wave_budget").Select(e => (long)e["to_bytes"]!)];

    private string Logs(string saveDir) => string.Concat(Directory.EnumerateFiles(Path.Combine(_dirs.New(saveDir), "logs")).Select(File.ReadAllText));

    private Task<CliRun> Quantize(string saveDir, Func<int, int> maxWaveUnits, params string[] flags) => CliRun.InvokeAsync(
        MoeQuantCli.Build(new FakeHeaderReader([]), new MemoryLimitedWorkloadFactory(new FakeWorkloadFactory(), maxWaveUnits)),
        ["quantize", "--save-dir", _dirs.New(saveDir), "--devices", "cpu", "--config", _dirs.SerializeMessagesConf, .. flags]);
}
