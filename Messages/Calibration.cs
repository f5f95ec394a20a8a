using System.Collections.Immutable;

namespace MoeQuant.Messages;

/// <summary>Coordinator → every GpuNode: load the layer's weights and create the ExpertHessianActors of the units the
/// plan gives this device. Replaces any earlier attempt of the layer.</summary>
/// <param name="Plan">The plan (every device gets all of it, and picks its own part).</param>
public sealed record LoadLayer(LayerPlan Plan) : IMoeQuantMessage;

/// <summary>GpuNode → coordinator: the layer's weights are on the device and its unit owners exist.</summary>
/// <param name="Plan">The attempt.</param>
/// <param name="Device">The device.</param>
public sealed record LayerLoaded(PlanId Plan, DeviceId Device) : IMoeQuantMessage;

/// <summary>Coordinator → GpuNode (→ its DataParallelActor): run the calibration forward of these shards for the units of
/// one wave.</summary>
/// <param name="Plan">The attempt.</param>
/// <param name="Wave">The wave whose units' Hessians to collect.</param>
/// <param name="Shards">The shards the plan gives this device, in increasing order.</param>
public sealed record CalibrateShards(PlanId Plan, int Wave, ImmutableArray<int> Shards) : IMoeQuantMessage;

/// <summary>One shard's partial Hessian for one unit: Σ xxᵀ over the tokens of the shard that reach the unit.</summary>
/// <param name="Unit">The unit.</param>
/// <param name="Shard">The shard.</param>
/// <param name="Data">Where the (unnormalised, fp32) partial sum waits.</param>
/// <param name="Tokens">How many tokens it sums; 0 when the unit saw none (then <paramref name="Data"/> is null).</param>
public sealed record PartialHessian(UnitId Unit, int Shard, BulkRef? Data, long Tokens);

/// <summary>DataParallelActor → coordinator: one shard is calibrated; its partial Hessians are parked.</summary>
/// <param name="Plan">The attempt.</param>
/// <param name="Wave">The wave.</param>
/// <param name="Shard">The shard.</param>
/// <param name="Tokens">Tokens in the shard.</param>
/// <param name="Partials">One entry per unit of the wave, in unit order.</param>
public sealed record ShardCalibrated(PlanId Plan, int Wave, int Shard, long Tokens, ImmutableArray<PartialHessian> Partials) : IMoeQuantMessage;

/// <summary>Coordinator → owning GpuNode: partial Hessians for units it owns, for the ExpertHessianActors to sum.</summary>
/// <param name="Plan">The attempt.</param>
/// <param name="Partials">Partials of this device's units from one shard.</param>
public sealed record ReducePartials(PlanId Plan, ImmutableArray<PartialHessian> Partials) : IMoeQuantMessage;

/// <summary>ExpertHessianActor → coordinator: every shard's partial is summed (in shard order) for this unit.</summary>
/// <param name="Plan">The attempt.</param>
/// <param name="Unit">The unit.</param>
/// <param name="Tokens">Total tokens the unit saw.</param>
public sealed record UnitReduced(PlanId Plan, UnitId Unit, long Tokens) : IMoeQuantMessage;
