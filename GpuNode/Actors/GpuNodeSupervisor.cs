using Akka.Actor;
using MoeQuant.GpuNode.Execution;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Kernels.Cuda;

namespace MoeQuant.GpuNode.Actors;

/// <summary>The parent of this process's GpuNodeActors, one per local device.</summary>
public sealed class GpuNodeSupervisor : ReceiveActor
{
    public GpuNodeSupervisor(IReadOnlyList<IGpuExecutor> executors, ILayerWorkload workload, BulkStore bulk, NodeSettings settings, IActorRef coordinator)
    {
        foreach (var executor in executors)
        {
            Context.ActorOf(GpuNodeActor.Props(executor, workload, bulk, settings, coordinator), ActorName(executor.Device));
        }
    }

    public static Props Props(IReadOnlyList<IGpuExecutor> executors, ILayerWorkload workload, BulkStore bulk, NodeSettings settings, IActorRef coordinator) =>
        Akka.Actor.Props.Create(() => new GpuNodeSupervisor(executors, workload, bulk, settings, coordinator));

    /// <summary>The child name of a device's node, e.g. "cpu-0".</summary>
    public static string ActorName(string device) => device.Replace(':', '-').Replace('/', '.');

    // A corrupted CUDA context cannot be used again: that device's node stops for good, and the coordinator, which
    // watches it, re-plans the layer on the remaining devices. Any other failure leaves the device usable: the node
    // restarts, registers again, and the coordinator redoes the layer from its committed input (the node's
    // in-memory work of the layer is lost with the old instance, never used half-done).
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(
        maxNrOfRetries: 3,
        withinTimeRange: TimeSpan.FromMinutes(1),
        decider: Decider.From(e => e is GpuContextCorruptedException ? Directive.Stop : Directive.Restart));
}
