using MoeQuant.Coordinator.Planning;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Tests.Planning;

public sealed class WaveBudgetTests
{
    private const long Gate = 7168L * 7168 * sizeof(float); // 205.5 MB
    private static readonly DeviceId Cuda0 = new("akka.tcp://m@127.0.0.1:1", "cuda:0");
    private static readonly DeviceId Cuda1 = new("akka.tcp://m@127.0.0.1:1", "cuda:1");

    // Eight gate Hessians, then o_proj's 1.07 GB one.
    private static readonly RunShape Shape = new(
        [100, 100],
        [[.. Enumerable.Range(0, 8).Select(e => new UnitId(0, $"mlp.experts.{e}.gate_proj")), new UnitId(0, "self_attn.o_proj")]],
        [[.. Enumerable.Repeat(7168, 8), 16384]]);

    [Fact]
    public void Should_halve_the_bytes_the_failed_wave_held_so_that_the_re_plan_splits_it()
    {
        var budget = 6L << 30;
        var plan = LayerPlanner.Plan(new PlanId(0, 0), [Cuda0, Cuda1], Shape, budget);
        Assert.Equal(0, plan.Units.Single(u => u.Unit.Module == "self_attn.o_proj").Wave); // one wave: 2.7 GB

        var decision = WaveBudget.Decide(Failure(WorkPhase.Calibrate, wave: 0), plan, Shape, budget);

        // Half of the 2.7 GB the wave held, not half of the 6 GiB budget, which would plan the same wave again.
        Assert.Null(decision.Fatal);
        Assert.True(decision.Shrinks);
        Assert.Equal(((8 * Gate) + (16384L * 16384 * 4)) / 2, decision.ToBytes);
        Assert.Contains("cuda:0 ran out of memory in calibrate of layer 0, wave 0 (9 units", decision.Summary, StringComparison.Ordinal);
        Assert.Contains("77.9 of 79.1 GiB in use", decision.Summary, StringComparison.Ordinal);
        var replan = LayerPlanner.Plan(new PlanId(0, 1), [Cuda0, Cuda1], Shape, decision.ToBytes);
        Assert.All(replan.Units.GroupBy(u => u.Wave), w => Assert.True(w.Count() == 1 || w.Sum(u => Bytes(u.Unit)) <= decision.ToBytes));
        Assert.True(replan.Waves > plan.Waves);
    }

    [Fact]
    public void Should_never_raise_the_budget_above_half_its_old_value()
    {
        var plan = LayerPlanner.Plan(new PlanId(0, 0), [Cuda0], Shape, 3 * Gate);

        var decision = WaveBudget.Decide(Failure(WorkPhase.Quantize, wave: 0), plan, Shape, 3 * Gate);

        Assert.Equal(3 * Gate / 2, decision.ToBytes);
    }

    [Fact]
    public void Should_stop_naming_the_unit_and_the_device_when_a_wave_of_one_unit_runs_out_of_memory()
    {
        var plan = LayerPlanner.Plan(new PlanId(0, 0), [Cuda0], Shape, Gate);
        var wave = plan.Units.Single(u => u.Unit.Module == "self_attn.o_proj").Wave;

        var decision = WaveBudget.Decide(Failure(WorkPhase.Reduce, wave), plan, Shape, Gate);

        Assert.False(decision.Shrinks);
        Assert.StartsWith("unit model.layers.0.self_attn.o_proj does not fit on cuda:0 on its own: out of memory in reduce", decision.Fatal, StringComparison.Ordinal);
        Assert.Contains("--offload-activations", decision.Fatal, StringComparison.Ordinal);
        Assert.Contains("--max-sequence-length", decision.Fatal, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(WorkPhase.Load)]
    [InlineData(WorkPhase.Commit)]
    public void Should_keep_the_budget_when_the_failed_work_held_no_hessians(WorkPhase phase)
    {
        var plan = LayerPlanner.Plan(new PlanId(0, 0), [Cuda0], Shape, 6L << 30);

        var decision = WaveBudget.Decide(Failure(phase, wave: null), plan, Shape, 6L << 30);

        Assert.Equal((6L << 30, false, null), (decision.ToBytes, decision.Shrinks, decision.Fatal));
        Assert.Contains("smaller waves do not help", decision.Summary, StringComparison.Ordinal);
    }

    private static DeviceOutOfMemory Failure(WorkPhase phase, int? wave) =>
        new(new PlanId(0, 0), Cuda0, phase, wave, "shard 1", (long)(77.9 * (1L << 30)), (long)(79.1 * (1L << 30)), "CUDA out of memory. Tried to allocate 2.00 GiB");

    private static long Bytes(UnitId unit) => unit.Module == "self_attn.o_proj" ? 16384L * 16384 * 4 : Gate;
}
