using Akka.Actor;
using MoeQuant.GpuNode.Actors;
using MoeQuant.GpuNode.Durability;
using MoeQuant.GpuNode.Execution;
using MoeQuant.GpuNode.Tests.Fakes;
using MoeQuant.Kernels.Cuda;
using MoeQuant.Messages;
using Xunit.Abstractions;

namespace MoeQuant.GpuNode.Tests;

/// <summary>How GpuNodes meet device failures, driven by executors that fail on demand.</summary>
public sealed class SupervisionTests(ITestOutputHelper output) : Akka.TestKit.Xunit2.TestKit(TestAkka.Config, nameof(SupervisionTests), output)
{
    private const double RelDamp = 0.01;
    private readonly string _saveDir = Directory.CreateTempSubdirectory("moequant-supervision-").FullName;
    private readonly List<FaultyExecutor> _executors = [];

    [Fact]
    public void Should_quantize_every_unit_when_nothing_fails()
    {
        var (driver, _) = Start(devices: 2);

        var outcomes = driver.Quantize(driver.Plan(0));

        Assert.All(outcomes.Values, o => Assert.Equal((QuantFallback.None, 0, RelDamp), (o.Report.Fallback, o.Report.Retries, o.Report.Damping)));
        Assert.Equal(5, outcomes.Count);
    }

    [Fact]
    public void Should_retry_a_failed_kernel_once_with_the_same_damping()
    {
        var (driver, executors) = Start(devices: 1, maxBatch: 1);
        executors[0].Fail(Quantizing("experts.1."), KernelFailure, times: 1);

        var outcome = driver.Quantize(driver.Plan(0)).Single(o => o.Key.Module.Contains("experts.1.", StringComparison.Ordinal)).Value;

        Assert.Equal((QuantFallback.None, 1, RelDamp), (outcome.Report.Fallback, outcome.Report.Retries, outcome.Report.Damping));
        Assert.NotNull(outcome.Result);
    }

    [Fact]
    public void Should_retry_with_more_damping_after_a_second_kernel_failure()
    {
        var (driver, executors) = Start(devices: 1, maxBatch: 1);
        executors[0].Fail(Quantizing("experts.1."), KernelFailure, times: 2);

        var outcome = driver.Quantize(driver.Plan(0)).Single(o => o.Key.Module.Contains("experts.1.", StringComparison.Ordinal)).Value;

        Assert.Equal((QuantFallback.MoreDamping, 2, RelDamp * 10), (outcome.Report.Fallback, outcome.Report.Retries, outcome.Report.Damping));
        Assert.NotNull(outcome.Result);
    }

    [Fact]
    public void Should_report_the_unit_unquantized_and_finish_the_others_when_its_kernel_keeps_failing()
    {
        var (driver, executors) = Start(devices: 2);
        executors.ForEach(e => e.Fail(Quantizing("experts.1."), KernelFailure));

        var outcomes = driver.Quantize(driver.Plan(0));

        var failed = outcomes.Single(o => o.Key.Module.Contains("experts.1.", StringComparison.Ordinal)).Value;
        Assert.Equal(QuantFallback.Unquantized, failed.Report.Fallback);
        Assert.Null(failed.Result);
        Assert.Contains("CUDA_ERROR_LAUNCH_FAILED", failed.Report.Error, StringComparison.Ordinal);
        Assert.All(outcomes.Values.Where(o => o != failed), o => Assert.NotNull(o.Result));
    }

    [Fact]
    public void Should_split_a_launch_that_runs_out_of_memory_and_quantize_every_unit()
    {
        var (driver, executors) = Start(devices: 1, maxBatch: 8);
        // Any launch of two or more units runs out of memory; units queue while the device thread is busy, so launches
        // of several units do happen, and must end up split down to single units.
        executors[0].Fail(j => j.Kind == GpuJobKind.Quantize && j.Subject.Contains(',', StringComparison.Ordinal), () => new GpuOutOfMemoryException("cuMemAlloc", 2, "CUDA_ERROR_OUT_OF_MEMORY"));

        var outcomes = driver.Quantize(driver.Plan(0));

        Assert.All(outcomes.Values, o => Assert.Equal((QuantFallback.None, 0), (o.Report.Fallback, o.Report.Retries)));
        var launches = executors[0].Jobs.Where(j => j.Job.Kind == GpuJobKind.Quantize).ToList();
        Assert.All(launches.Where(l => !l.Failed), l => Assert.DoesNotContain(",", l.Job.Subject, StringComparison.Ordinal));
        Assert.Equal(5, launches.Count(l => !l.Failed));
    }

    [Fact]
    public void Should_report_running_out_of_memory_in_the_calibration_forward_to_the_coordinator_and_keep_the_node()
    {
        var (driver, _) = Start(devices: 1, maxWaveUnits: 2);

        var report = driver.UntilOutOfMemory(driver.Plan(0));

        Assert.Equal(("cpu:0", WorkPhase.Calibrate, (int?)0), (report.Device.Name, report.Phase, report.Wave));
        Assert.StartsWith("shard ", report.Subject, StringComparison.Ordinal);
        // libtorch's first line only, and no memory figures where the device has none.
        Assert.Equal("CUDA out of memory. Tried to allocate 10 GiB. GPU 0 has a total capacity of 79.11 GiB of which 1.12 GiB is free.", report.Error);
        Assert.Equal((null, null), (report.UsedBytes, report.TotalBytes));
        AssertNoNodeRestarted(driver);
    }

    [Fact]
    public void Should_report_running_out_of_memory_while_summing_hessians()
    {
        var (driver, executors) = Start(devices: 2);
        executors[1].Fail(j => j.Kind == GpuJobKind.Reduce, OutOfMemory, times: 1);

        var report = driver.UntilOutOfMemory(driver.Plan(0));

        Assert.Equal(("cpu:1", WorkPhase.Reduce, (int?)0), (report.Device.Name, report.Phase, report.Wave));
        Assert.Contains("shard", report.Subject, StringComparison.Ordinal);
        Assert.Contains("CUDA_ERROR_OUT_OF_MEMORY", report.Error, StringComparison.Ordinal);
        AssertNoNodeRestarted(driver);
    }

    [Fact]
    public void Should_report_a_launch_of_one_unit_that_runs_out_of_memory_instead_of_retrying_the_kernel()
    {
        var (driver, executors) = Start(devices: 1, maxBatch: 1);
        executors[0].Fail(Quantizing("experts.1."), OutOfMemory);

        var report = driver.UntilOutOfMemory(driver.Plan(0));

        Assert.Equal((WorkPhase.Quantize, (int?)0, "mlp.experts.1.gate_up_proj"), (report.Phase, report.Wave, report.Subject));
        // More damping cannot make memory: the unit's launch was tried once, not retried as a failed kernel.
        Assert.Single(executors[0].Jobs, j => Quantizing("experts.1.")(j.Job));
        AssertNoNodeRestarted(driver);
    }

    [Fact]
    public void Should_stop_the_node_whose_device_context_is_corrupted()
    {
        var (driver, executors) = Start(devices: 2);
        var (sick, sickNode) = driver.Nodes.First(n => n.Key.Name == "cpu:1");
        var watcher = CreateTestProbe();
        watcher.Watch(sickNode);
        executors.Single(e => e.Device == sick.Name)
            .Fail(j => j.Kind == GpuJobKind.Calibrate, () => new GpuContextCorruptedException("cuLaunchKernel", 700, "CUDA_ERROR_ILLEGAL_ADDRESS"));

        var plan = driver.Plan(0);
        foreach (var node in driver.Nodes.Values)
        {
            node.Tell(new LoadLayer(plan), driver.Probe);
        }

        driver.Probe.ExpectMsg<LayerLoaded>(TimeSpan.FromSeconds(10));
        driver.Probe.ExpectMsg<LayerLoaded>(TimeSpan.FromSeconds(10));

        foreach (var device in plan.Devices)
        {
            driver.Nodes[device].Tell(new CalibrateShards(plan.Id, 0, [.. plan.Shards.Where(s => s.Device == device).Select(s => s.Shard)]));
        }

        watcher.ExpectTerminated(sickNode, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Should_report_lost_work_instead_of_dropping_a_failed_units_partial_sums()
    {
        var (driver, executors) = Start(devices: 1);
        executors[0].Fail(j => j.Kind == GpuJobKind.Reduce && j.Subject.StartsWith("self_attn", StringComparison.Ordinal), () => new IOException("disk full"), times: 1);
        var plan = driver.Plan(0);

        var lost = Assert.Throws<InvalidOperationException>(() => driver.Quantize(plan));

        Assert.Contains("LayerWorkLost", lost.Message, StringComparison.Ordinal);
        Assert.Contains("disk full", lost.Message, StringComparison.Ordinal);
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        _executors.ForEach(e => e.Dispose());
        Directory.Delete(_saveDir, recursive: true);
    }

    private static Func<GpuJob, bool> Quantizing(string module) => j => j.Kind == GpuJobKind.Quantize && j.Subject.Contains(module, StringComparison.Ordinal);

    private static Exception KernelFailure() => new CudaException("cuLaunchKernel", 719, "CUDA_ERROR_LAUNCH_FAILED");

    private static Exception OutOfMemory() => new GpuOutOfMemoryException("cuMemAlloc", 2, "CUDA_ERROR_OUT_OF_MEMORY");

    // A node that failed would restart and register its device again.
    private static void AssertNoNodeRestarted(LayerDriver driver) =>
        Assert.DoesNotContain(driver.Probe.ReceiveWhile<object>(TimeSpan.FromSeconds(1.5), m => m), m => m is RegisterDevice);

    private (LayerDriver Driver, List<FaultyExecutor> Executors) Start(int devices, int maxBatch = 16, int maxWaveUnits = int.MaxValue)
    {
        var workload = new FakeWorkload(new RunLayout(_saveDir), layers: 1);
        var executors = Enumerable.Range(0, devices).Select(i => new FaultyExecutor($"cpu:{i}")).ToList();
        _executors.AddRange(executors);
        var coordinator = CreateTestProbe();
        var settings = new NodeSettings(RelDamp, 10, maxBatch, OffloadActivations: false, TimeSpan.FromSeconds(1));
        var limited = new MemoryLimitedWorkload(workload, _ => maxWaveUnits);
        Sys.ActorOf(GpuNodeSupervisor.Props([.. executors], limited, new BulkStore(), settings, coordinator), "devices");
        var driver = new LayerDriver(coordinator, workload);
        driver.Register(devices);
        return (driver, executors);
    }
}
