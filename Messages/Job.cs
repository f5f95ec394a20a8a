using System.Collections.Immutable;

namespace MoeQuant.Messages;

/// <summary>One device of the cluster: the member that hosts it and the device's local name.</summary>
/// <param name="Member">The member's address, e.g. "akka.tcp://moequant@127.0.0.1:40211".</param>
/// <param name="Name">The device on that member: "cpu:0" or "cuda:3".</param>
public sealed record DeviceId(string Member, string Name)
{
    /// <summary>The plan's fixed member order: by member address, then by device name (ordinal).</summary>
    public static IComparer<DeviceId> PlanOrder { get; } = Comparer<DeviceId>.Create((a, b) =>
        string.CompareOrdinal(a.Member, b.Member) is var byMember and not 0 ? byMember : string.CompareOrdinal(a.Name, b.Name));

    /// <inheritdoc />
    public override string ToString() => $"{Name}@{Member}";
}

/// <summary>One quantization unit: a linear (or a group of linears that share one Hessian) of one layer.</summary>
/// <param name="Layer">Decoder block index.</param>
/// <param name="Module">Path inside the block, e.g. "mlp.experts.5.gate_up_proj" or "self_attn.o_proj".</param>
public sealed record UnitId(int Layer, string Module)
{

    /// <inheritdoc />
    public override string ToString() => $"model.layers.{Layer}.{Module}";
}

/// <summary>One attempt at one layer. A re-plan after a lost device bumps <see cref="Attempt"/>, so late replies to an
/// abandoned attempt are recognised and dropped.</summary>
/// <param name="Layer">Decoder block index.</param>
/// <param name="Attempt">0 for the first plan of this layer in this process, then 1, 2, ...</param>
public sealed record PlanId(int Layer, int Attempt)
{
    /// <inheritdoc />
    public override string ToString() => $"layer {Layer} attempt {Attempt}";
}

/// <summary>A calibration shard (a fixed group of samples, numbered once for the run) and the device that holds it.</summary>
/// <param name="Shard">Shard number, 0-based.</param>
/// <param name="Device">The device whose DataParallelActor runs the shard.</param>
public sealed record ShardAssignment(int Shard, DeviceId Device);

/// <summary>A quantization unit, the device whose ExpertHessianActor owns it, and the wave it is calibrated in.</summary>
/// <param name="Unit">The unit.</param>
/// <param name="Device">The owning device.</param>
/// <param name="Wave">The calibration wave (0-based): the layer's units are calibrated and quantized in waves whose
/// Hessians fit the run's memory budget, each wave re-running the calibration forward for its own units only.</param>
public sealed record UnitAssignment(UnitId Unit, DeviceId Device, int Wave);

/// <summary>Who does what for one layer; journaled before any work starts.</summary>
/// <param name="Id">Layer and attempt.</param>
/// <param name="Devices">The live devices in plan order (sorted by member address, then device name).</param>
/// <param name="Shards">Every calibration shard, round-robin over <paramref name="Devices"/>.</param>
/// <param name="Units">Every unit of the layer, balanced over <paramref name="Devices"/> by token counts.</param>
public sealed record LayerPlan(
    PlanId Id,
    ImmutableArray<DeviceId> Devices,
    ImmutableArray<ShardAssignment> Shards,
    ImmutableArray<UnitAssignment> Units) : IMoeQuantMessage
{
    /// <summary>Number of calibration waves (at least one, also for a layer with no units).</summary>
    public int Waves => Units.IsEmpty ? 1 : Units.Max(u => u.Wave) + 1;
}

/// <summary>A tensor (or group of tensors) parked in the owning process's bulk store. Bulk data never travels
/// through Akka; messages carry this descriptor instead.</summary>
/// <param name="Key">The store key, unique within the process.</param>
public sealed record BulkRef(string Key);

/// <summary>Tells the coordinator that a layer cannot go on as planned (a unit's owner or a shard holder failed);
/// the coordinator re-plans the layer and redoes it from its committed input.</summary>
/// <param name="Plan">The attempt that is lost.</param>
/// <param name="Device">The device that lost the work.</param>
/// <param name="Reason">What failed, for the log.</param>
public sealed record LayerWorkLost(PlanId Plan, DeviceId Device, string Reason) : IMoeQuantMessage;

/// <summary>Sent by the coordinator to every device when a layer's attempt is finished (committed) or abandoned, so
/// that devices free its weights, Hessians and quantized results.</summary>
/// <param name="Plan">The attempt to release.</param>
/// <param name="Committed">True when the layer was committed; false when the attempt was abandoned.</param>
public sealed record ReleaseLayer(PlanId Plan, bool Committed) : IMoeQuantMessage;

/// <summary>The part of a layer's work that device work belongs to.</summary>
public enum WorkPhase
{
    /// <summary>Reading the layer's weights onto the device.</summary>
    Load,

    /// <summary>The calibration forward of a wave: the shard's activations and every partial Hessian of the wave.</summary>
    Calibrate,

    /// <summary>Summing the partial Hessians of the device's units of a wave.</summary>
    Reduce,

    /// <summary>GPTQ on the device's units of a wave, while their Hessians are resident.</summary>
    Quantize,

    /// <summary>The quantized forward that makes the next layer's inputs (no Hessian is resident any more).</summary>
    Commit,
}

/// <summary>GpuNode → coordinator: device work of a layer attempt ran out of device memory. The attempt is lost as with
/// <see cref="LayerWorkLost"/>, but the coordinator can do better than redo it as planned: smaller waves need less
/// memory.</summary>
/// <param name="Plan">The attempt.</param>
/// <param name="Device">The device that ran out of memory.</param>
/// <param name="Phase">What the device was doing.</param>
/// <param name="Wave">The wave whose work failed; null for <see cref="WorkPhase.Load"/> and <see cref="WorkPhase.Commit"/>,
/// which belong to no wave.</param>
/// <param name="Subject">The shard or units of the failed job, e.g. "shard 3" or "mlp.experts.7.gate_up_proj".</param>
/// <param name="UsedBytes">Device memory in use right after the failure (every process, caching reserves included);
/// null where the device cannot say (the CPU).</param>
/// <param name="TotalBytes">The device's memory; null where <paramref name="UsedBytes"/> is.</param>
/// <param name="Error">The device's own words, e.g. "CUDA out of memory. Tried to allocate 2.00 GiB ...".</param>
public sealed record DeviceOutOfMemory(
    PlanId Plan,
    DeviceId Device,
    WorkPhase Phase,
    int? Wave,
    string Subject,
    long? UsedBytes,
    long? TotalBytes,
    string Error) : IMoeQuantMessage;
