using System.Collections.Immutable;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Planning;

/// <summary>
/// Assigns a layer's work to the live devices. Calibration shards go round-robin over the devices in plan order (member
/// address, then device name). Units are cut, in the workload's order, into waves whose fp32 Hessians together stay
/// within the wave budget (a unit larger than the budget gets a wave of its own), so that the sums of a DeepSeek-V3 MoE
/// layer (about 57 GB) never have to be resident at once. Within each wave, units go greedily to the least-loaded device,
/// heaviest first, where a unit weighs the tokens its module saw in the layers done so far (plus one, so that unseen
/// modules still spread).
/// </summary>
public static class LayerPlanner
{
    public static LayerPlan Plan(PlanId id, IEnumerable<DeviceId> liveDevices, RunShape shape, IReadOnlyDictionary<string, long> tokensByModule, long waveBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(waveBytes);
        var devices = liveDevices.Order(DeviceId.PlanOrder).ToImmutableArray();
        if (devices.IsEmpty)
        {
            throw new InvalidOperationException("no device is left to plan on");
        }

        var shards = Enumerable.Range(0, shape.Shards).Select(s => new ShardAssignment(s, devices[s % devices.Length])).ToImmutableArray();
        var units = ImmutableArray.CreateBuilder<UnitAssignment>();
        foreach (var (wave, members) in Waves(shape, id.Layer, waveBytes).Select((w, i) => (i, w)))
        {
            var load = new long[devices.Length];
            var byWeight = members
                .Select(u => (Unit: u, Weight: tokensByModule.GetValueOrDefault(u.Module) + 1))
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
