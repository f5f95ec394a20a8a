using System.Text.Json.Nodes;
using MoeQuant.Coordinator.Actors;
using MoeQuant.Coordinator.Journal;
using MoeQuant.Coordinator.Progress;
using MoeQuant.Coordinator.Report;
using MoeQuant.Coordinator.Tests.Pipeline;
using MoeQuant.GpuNode.Actors;
using MoeQuant.GpuNode.Durability;
using MoeQuant.GpuNode.Execution;
using MoeQuant.GpuNode.Tests.Fakes;
using MoeQuant.Kernels.Cuda;
using Xunit.Abstractions;

namespace MoeQuant.Coordinator.Tests.Actors;

/// <summary>The coordinator and real GpuNodes on fault-injecting executors: lost devices and lost work make the
/// coordinator redo the layer from its committed input, and the output stays what a clean run writes.</summary>
public sealed class ReplanTests(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(TestAkka.Config, nameof(ReplanTests), output)
{
    private readonly SaveDirs _dirs = new();
    private readonly List<FaultyExecutor> _executors = [];

    [Fact]
    public async Task Should_replan_the_layer_on_the_remaining_devices_when_a_device_context_is_corrupted()
    {
        var clean = await Run("clean", devices: 3);
        var faulty = await Run("corrupted", devices: 3, e => e.Device == "cpu:1"
            ? e.Fail(j => j.Kind == GpuJobKind.Calibrate && j.Layer == 1, () => new GpuContextCorruptedException("cuLaunchKernel", 700, "CUDA_ERROR_ILLEGAL_ADDRESS"), times: 1)
            : e);

        Assert.True(faulty.Outcome.Succeeded, faulty.Outcome.Message);
        Assert.Contains("\"event\":\"plan\",\"layer\":1,\"attempt\":1", faulty.Journal, StringComparison.Ordinal);
        Assert.DoesNotContain("cpu:1", faulty.Journal.Split('\n').Last(l => l.Contains("\"attempt\":1", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Equal(SaveDirs.Outputs(clean.Dir), SaveDirs.Outputs(faulty.Dir));
    }

    [Fact]
    public async Task Should_redo_the_layer_when_a_unit_actor_fails_with_its_partial_sums()
    {
        var clean = await Run("clean", devices: 2);
        var faulty = await Run("lost", devices: 2, e => e.Fail(j => j.Kind == GpuJobKind.Reduce && j.Layer == 2, () => new IOException("disk full"), times: 1));

        Assert.True(faulty.Outcome.Succeeded, faulty.Outcome.Message);
        Assert.Contains("\"event\":\"plan\",\"layer\":2,\"attempt\":1", faulty.Journal, StringComparison.Ordinal);
        Assert.Equal(SaveDirs.Outputs(clean.Dir), SaveDirs.Outputs(faulty.Dir));
    }

    [Fact]
    public async Task Should_redo_a_layer_that_ran_out_of_memory_in_smaller_waves_without_counting_a_failed_attempt()
    {
        var clean = await Run("clean", devices: 3);
        // Room for one unit's Hessians: layer 0's one wave of 5 units fails, then its waves of 2 (budget 640 B), then
        // waves of one unit (256 B) go through; layers 1 and 2 start at 256 B. One try per layer: the re-plans in
        // smaller waves must not count as failed tries.
        var limited = await Run("limited", devices: 3, maxLayerAttempts: 1, maxWaveUnits: 1);

        Assert.True(limited.Outcome.Succeeded, limited.Outcome.Message);
        var journal = limited.Journal.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        var cuts = journal.Where(e => (string?)e["event"] == "wave_budget").ToList();
        Assert.Equal([(0, 640L), (0, 256L)], cuts.Select(e => ((int)e["layer"]!, (long)e["to_bytes"]!)));
        Assert.All(cuts, e => Assert.Equal("calibrate", (string?)e["phase"]));
        var plans = journal.Where(e => (string?)e["event"] == "plan").Select(e => ((int)e["layer"]!, (int)e["attempt"]!, (long)e["wave_bytes"]!, (int)e["waves"]!));
        Assert.Equal([(0, 0, long.MaxValue, 1), (0, 1, 640L, 3), (0, 2, 256L, 5), (1, 0, 256L, 5), (2, 0, 256L, 5)], plans);
        Assert.Equal(SaveDirs.Outputs(clean.Dir), SaveDirs.Outputs(limited.Dir));
    }

    [Fact]
    public async Task Should_redo_a_layer_that_ran_out_of_memory_in_its_commit_forward_as_a_failed_try_with_the_same_waves()
    {
        var clean = await Run("clean", devices: 2);
        var faulty = await Run("commit", devices: 2, e => e.Fail(j => j.Kind == GpuJobKind.Forward && j.Layer == 1, OutOfMemory, times: 1));
        var once = await Run("once", devices: 2, e => e.Fail(j => j.Kind == GpuJobKind.Forward && j.Layer == 1, OutOfMemory, times: 1), maxLayerAttempts: 1);

        Assert.True(faulty.Outcome.Succeeded, faulty.Outcome.Message);
        Assert.Contains("\"event\":\"plan\",\"layer\":1,\"attempt\":1,\"wave_bytes\":9223372036854775807", faulty.Journal, StringComparison.Ordinal);
        Assert.DoesNotContain("wave_budget", faulty.Journal, StringComparison.Ordinal);
        Assert.Equal(SaveDirs.Outputs(clean.Dir), SaveDirs.Outputs(faulty.Dir));
        // No Hessian is resident in the commit forward: smaller waves would not help, so the redo is a failed try.
        Assert.False(once.Outcome.Succeeded);
        Assert.Contains("layer 1 failed 1 times; last: cpu:", once.Outcome.Message, StringComparison.Ordinal);
        Assert.Contains("ran out of memory in commit of layer 1", once.Outcome.Message, StringComparison.Ordinal);
        Assert.Contains("smaller waves do not help", once.Outcome.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_stop_the_run_and_keep_finished_layers_when_no_device_is_left()
    {
        var run = await Run("dead", devices: 1, e => e.Fail(j => j.Kind == GpuJobKind.Calibrate && j.Layer == 1, () => new GpuContextCorruptedException("cuLaunchKernel", 700, "CUDA_ERROR_ILLEGAL_ADDRESS")));

        Assert.False(run.Outcome.Succeeded);
        Assert.Contains("no device left", run.Outcome.Message, StringComparison.Ordinal);
        Assert.Equal(1, RunJournal.LayersDone(new RunLayout(run.Dir)));
        // The finished layer has its quality report although the run stopped.
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(new RunLayout(run.Dir).ReportDir, QualityReport.UnitsFile)))!;
        Assert.Equal(1, (int)report["layers"]!);
    }

    private static Exception OutOfMemory() => new GpuOutOfMemoryException("cuMemAlloc", 2, "CUDA_ERROR_OUT_OF_MEMORY");

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        _executors.ForEach(e => e.Dispose());
        _dirs.Dispose();
    }

    private async Task<(string Dir, RunOutcome Outcome, string Journal)> Run(
        string name, int devices, Func<FaultyExecutor, FaultyExecutor>? faults = null, int maxLayerAttempts = 4, int maxWaveUnits = int.MaxValue)
    {
        var layout = new RunLayout(_dirs.New(name));
        Directory.CreateDirectory(layout.SaveDir);
        var workload = new MemoryLimitedWorkload(new FakeWorkload(layout), _ => maxWaveUnits);
        var executors = Enumerable.Range(0, devices).Select(i => (faults ?? (e => e))(new FaultyExecutor($"cpu:{i}"))).ToList();
        _executors.AddRange(executors);
        var completion = new RunCompletion();
        var settings = new CoordinatorSettings(workload.Shape, StartLayer: 0, devices, maxLayerAttempts, WaveBytes: long.MaxValue, ConfiguredWaveBytes: long.MaxValue);
        var coordinator = Sys.ActorOf(CoordinatorActor.Props(settings, new RunJournal(layout), new QualityReport(layout), new RunProgress(workload.Shape.Layers, 0, workload.Shape.TotalTokens), completion), $"coordinator-{name}");
        var node = new NodeSettings(0.01, 10, 16, OffloadActivations: false, TimeSpan.FromSeconds(1));
        Sys.ActorOf(GpuNodeSupervisor.Props([.. executors], workload, new BulkStore(), node, coordinator), $"devices-{name}");
        var outcome = await completion.Outcome.WaitAsync(TimeSpan.FromSeconds(60));
        return (layout.SaveDir, outcome, await File.ReadAllTextAsync(layout.JournalFile));
    }
}
