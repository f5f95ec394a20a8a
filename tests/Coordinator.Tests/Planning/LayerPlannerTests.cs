using System.Collections.Immutable;
using MoeQuant.Coordinator.Planning;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Tests.Planning;

public class LayerPlannerTests
{
    private static readonly DeviceId[] Devices = [new("akka.tcp://m@127.0.0.1:1", "cuda:0"), new("akka.tcp://m@127.0.0.1:1", "cuda:1")];

    // A DeepSeek-V3 MoE layer in miniature: 8 experts (gate/up read 7168 columns, down 2048), then attention.
    private static readonly (string Module, int Columns)[] Layer =
    [
        .. Enumerable.Range(0, 8).SelectMany(e => new[] { ($"mlp.experts.{e}.down_proj", 2048), ($"mlp.experts.{e}.gate_proj", 7168) }),
        ("self_attn.o_proj", 16384),
        ("self_attn.q_a_proj", 7168),
    ];

    private static readonly RunShape Shape = new(
        [100, 100, 100],
        [[.. Layer.Select(u => new UnitId(0, u.Module))]],
        [[.. Layer.Select(u => u.Columns)]]);

    [Fact]
    public void Should_cut_units_in_order_into_waves_that_fit_the_budget()
    {
        var budget = 1_000_000_000L;
        var plan = LayerPlanner.Plan(new PlanId(0, 0), Devices, Shape, budget);

        var waves = plan.Units.GroupBy(u => u.Wave).OrderBy(g => g.Key).ToList();
        Assert.Equal(Enumerable.Range(0, plan.Waves), waves.Select(w => w.Key));
        // In order: the units of a wave are a contiguous run of the shape's units, and no unit is lost or repeated.
        Assert.Equal(Shape.Units[0], waves.SelectMany(w => w.Select(u => u.Unit).OrderBy(u => Shape.Units[0].IndexOf(u))));
        foreach (var wave in waves)
        {
            var bytes = wave.Sum(u => Bytes(u.Unit));
            Assert.True(bytes <= budget || wave.Count() == 1, $"wave {wave.Key}: {bytes} bytes");
        }

        // 1 GB: experts 0-3 and expert 4's down_proj (4 · 222.3 + 16.8 MB); expert 4's gate and experts 5-7 (872 MB);
        // o_proj's 1.07 GB Hessian, over the budget on its own, alone; q_a_proj.
        Assert.Equal(4, plan.Waves);
        Assert.Single(waves.Single(w => w.Any(u => u.Unit.Module == "self_attn.o_proj")));
    }

    [Fact]
    public void Should_spread_every_wave_over_the_devices()
    {
        var plan = LayerPlanner.Plan(new PlanId(0, 0), Devices, Shape, 1L << 30);

        foreach (var wave in plan.Units.GroupBy(u => u.Wave).Where(w => w.Count() > 1))
        {
            Assert.Equal(Devices.Length, wave.Select(u => u.Device).Distinct().Count());
        }

        Assert.Equal([0, 1, 2], plan.Shards.Select(s => s.Shard));
        Assert.Equal([Devices[0], Devices[1], Devices[0]], plan.Shards.Select(s => s.Device));
    }

    [Fact]
    public void Should_balance_the_hessian_bytes_each_device_owns()
    {
        var plan = LayerPlanner.Plan(new PlanId(0, 0), Devices, Shape, long.MaxValue);

        // o_proj (1.07 GB) goes first to one device; the 8 gate (205 MB) and 8 down (17 MB) Hessians and q_a fill the
        // other before any joins o_proj: 1.07 GB on each side, within one gate Hessian.
        var bytes = plan.Units.GroupBy(u => u.Device).Select(g => g.Sum(u => Bytes(u.Unit))).ToList();
        Assert.Equal(2, bytes.Count);
        Assert.InRange(Math.Abs(bytes[0] - bytes[1]), 0, 7168L * 7168 * sizeof(float));
    }

    [Fact]
    public void Should_plan_one_wave_when_everything_fits()
    {
        var plan = LayerPlanner.Plan(new PlanId(0, 0), Devices, Shape, long.MaxValue);

        Assert.Equal(1, plan.Waves);
        Assert.All(plan.Units, u => Assert.Equal(0, u.Wave));
    }

    private static long Bytes(UnitId unit)
    {
        var columns = (long)Layer.Single(u => u.Module == unit.Module).Columns;
        return columns * columns * sizeof(float);
    }
}
