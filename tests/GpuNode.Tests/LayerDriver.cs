using System.Collections.Immutable;
using Akka.Actor;
using Akka.TestKit;
using MoeQuant.GpuNode.Tests.Fakes;
using MoeQuant.Messages;

namespace MoeQuant.GpuNode.Tests;

/// <summary>Plays the coordinator's part of one layer against real GpuNodes: load, calibrate, route partials to their
/// owners, quantize, and collect each unit's outcome.</summary>
internal sealed class LayerDriver(TestProbe coordinator, FakeWorkload workload)
{
    public TestProbe Probe => coordinator;

    public Dictionary<DeviceId, IActorRef> Nodes { get; } = [];

    public void Register(int devices)
    {
        for (var i = 0; i < devices; i++)
        {
            var registration = coordinator.ExpectMsg<RegisterDevice>(TimeSpan.FromSeconds(10));
            Nodes[registration.Device] = coordinator.LastSender;
            coordinator.Reply(new DeviceRegistered(registration.Device));
        }
    }

    public LayerPlan Plan(int layer, int attempt = 0)
    {
        var devices = Nodes.Keys.Order(DeviceId.PlanOrder).ToImmutableArray();
        var shards = Enumerable.Range(0, workload.Shape.Shards).Select(s => new ShardAssignment(s, devices[s % devices.Length]));
        var units = workload.Shape.Units[layer].Select((u, i) => new UnitAssignment(u, devices[i % devices.Length], 0));
        return new LayerPlan(new PlanId(layer, attempt), devices, [.. shards], [.. units]);
    }

    /// <summary>Runs the layer up to every unit's outcome; returns the outcomes by unit.</summary>
    public Dictionary<UnitId, UnitQuantized> Quantize(LayerPlan plan)
    {
        LoadAndCalibrate(plan);
        var owners = plan.Units.ToDictionary(u => u.Unit, u => u.Device);
        var reduced = 0;
        while (reduced < plan.Units.Length)
        {
            switch (coordinator.ReceiveOne(TimeSpan.FromSeconds(10)))
            {
                case ShardCalibrated shard:
                    foreach (var group in shard.Partials.GroupBy(p => owners[p.Unit]))
                    {
                        Nodes[group.Key].Tell(new ReducePartials(plan.Id, [.. group]));
                    }

                    break;
                case UnitReduced:
                    reduced++;
                    break;
                case var other:
                    throw new InvalidOperationException($"unexpected {other} while calibrating");
            }
        }

        Tell(plan.Devices, new QuantizeUnits(plan.Id, 0));
        return Enumerable.Range(0, plan.Units.Length)
            .Select(_ => coordinator.ExpectMsg<UnitQuantized>(TimeSpan.FromSeconds(10)))
            .ToDictionary(m => m.Report.Unit);
    }

    /// <summary>Runs the layer as <see cref="Quantize"/> does until a device reports that it ran out of memory.</summary>
    public DeviceOutOfMemory UntilOutOfMemory(LayerPlan plan)
    {
        LoadAndCalibrate(plan);
        var owners = plan.Units.ToDictionary(u => u.Unit, u => u.Device);
        var reduced = 0;
        while (true)
        {
            switch (coordinator.ReceiveOne(TimeSpan.FromSeconds(10)))
            {
                case DeviceOutOfMemory outOfMemory:
                    return outOfMemory;
                case ShardCalibrated shard:
                    foreach (var group in shard.Partials.GroupBy(p => owners[p.Unit]))
                    {
                        Nodes[group.Key].Tell(new ReducePartials(plan.Id, [.. group]));
                    }

                    break;
                case UnitReduced when ++reduced == plan.Units.Length:
                    Tell(plan.Devices, new QuantizeUnits(plan.Id, 0));
                    break;
                case UnitReduced or UnitQuantized:
                    break;
                case var other:
                    throw new InvalidOperationException($"unexpected {other?.ToString() ?? "silence"} before running out of memory");
            }
        }
    }

    private void LoadAndCalibrate(LayerPlan plan)
    {
        Tell(plan.Devices, new LoadLayer(plan));
        for (var i = 0; i < plan.Devices.Length; i++)
        {
            coordinator.ExpectMsg<LayerLoaded>(TimeSpan.FromSeconds(10));
        }

        foreach (var group in plan.Shards.GroupBy(s => s.Device))
        {
            Nodes[group.Key].Tell(new CalibrateShards(plan.Id, 0, [.. group.Select(s => s.Shard)]));
        }
    }

    private void Tell(IEnumerable<DeviceId> devices, object message)
    {
        foreach (var device in devices)
        {
            Nodes[device].Tell(message, coordinator);
        }
    }
}
