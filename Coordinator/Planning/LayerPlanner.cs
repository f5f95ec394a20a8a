using System.Collections.Immutable;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Planning;

/// <summary>
/// Assigns a layer's work to the live devices: calibration shards round-robin over the devices in plan order (member
/// address, then device name), and units greedily to the least-loaded device, heaviest first, where a unit weighs the
/// tokens its module saw in the layers done so far (plus one, so that unseen modules still spread).
/// </summary>
public static class LayerPlanner
{
    public static LayerPlan Plan(PlanId id, IEnumerable<DeviceId> liveDevices, RunShape shape, IReadOnlyDictionary<string, long> tokensByModule)
    {
        var devices = liveDevices.Order(DeviceId.PlanOrder).ToImmutableArray();
        if (devices.IsEmpty)
        {
            throw new InvalidOperationException("no device is left to plan on");
        }

        var shards = Enumerable.Range(0, shape.Shards).Select(s => new ShardAssignment(s, devices[s % devices.Length])).ToImmutableArray();
        var load = new long[devices.Length];
        var units = ImmutableArray.CreateBuilder<UnitAssignment>();
        var byWeight = shape.Units[id.Layer]
            .Select(u => (Unit: u, Weight: tokensByModule.GetValueOrDefault(u.Module) + 1))
            .OrderByDescending(u => u.Weight)
            .ThenBy(u => u.Unit.Module, StringComparer.Ordinal);
        foreach (var (unit, weight) in byWeight)
        {
            var target = Array.IndexOf(load, load.Min());
            load[target] += weight;
            units.Add(new UnitAssignment(unit, devices[target]));
        }

        return new LayerPlan(id, devices, shards, units.ToImmutable());
    }
}
