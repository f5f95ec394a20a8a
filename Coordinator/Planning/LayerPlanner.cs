using System.Collections.Immutable;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Planning;

/// <summary>
/// Assigns a layer's work to the live devices. Calibration shards go round-robin over the devices in plan order (member
/// address, then device name). Units are cut, in the workload's order, into waves whose fp32 Hessians together stay
/// within the wave budget (a unit larger than the budget gets a wave of its own), so that the sums of a DeepSeek-V3 MoE
/// layer (about 57 GB) never have to be resident at once. Within each wave, units go greedily to the least-loaded device,
/// heaviest first, where a unit weighs its Hessian's size (GPTQ's work grows with the input width, not with the tokens,
/// which are summed on the calibrating devices). The plan depends only on the layer and the devices, never on what this
/// process did before: a run resumed after a crash plans every layer as the uninterrupted run did, so that on a GPU,
/// where which units share a batched launch shapes the bits, it writes the same bytes.
/// </summary>
public static class LayerPlanner
{
    public static LayerPlan Plan(PlanId id, IEnumerable<DeviceId> liveDevices, RunShape shape, long waveBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(waveBytes);
        var devices = liveDevices.Order(DeviceId.PlanOrder).ToImmutableArray();
        if (devices.IsEmpty)
        {
            throw new InvalidOperationException("no device is left to plan on");
        }

        var shards = Enumerable.Range(0, shape.Shards).Select(s => new ShardAssignment(s, devices[s % devices.Length])).ToImmutableArray();
        var units = ImmutableArray.CreateBuilder<UnitAssignment>();
        var bytes = shape.Units[id.Layer].Select((u, i) => (u, i)).ToDictionary(u => u.u, u => shape.HessianBytes(id.Layer, u.i));
        foreach (var (wave, members) in Waves(shape, id.Layer, waveBytes).Select((w, i) => (i, w)))
        {
            var load = new long[devices.Length];
            var byWeight = members
                .Select(u => (Unit: u, Weight: bytes[u]))
                .OrderByDescending(u => u.Weight)
                .ThenBy(u => u.Unit.Module, StringComparer.Ordinal);
            foreach (var (unit, weight) in byWeight)
            {
                var target = Array.IndexOf(load, load.Min());
                load[target] += weight;
                units.Add(new UnitAssignment(unit, devices[target], wave));
            }
        }

        return new LayerPlan(id, devices, shards, units.ToImmutable());
    }

    private static List<List<UnitId>> Waves(RunShape shape, int layer, long waveBytes)
    {
        var waves = new List<List<UnitId>>();
        var current = new List<UnitId>();
        var bytes = 0L;
        for (var i = 0; i < shape.Units[layer].Length; i++)
        {
            var size = shape.HessianBytes(layer, i);
            if (current.Count > 0 && bytes + size > waveBytes)
            {
                waves.Add(current);
                (current, bytes) = ([], 0);
            }

            current.Add(shape.Units[layer][i]);
            bytes += size;
        }

        if (current.Count > 0)
        {
            waves.Add(current);
        }

        return waves;
    }
}
