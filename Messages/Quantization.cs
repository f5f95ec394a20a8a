using System.Collections.Immutable;

namespace MoeQuant.Messages;

/// <summary>What went wrong with a unit's Hessian; mirrors the GPTQ engine's issue flags (GPTQ spec §1.3).</summary>
[Flags]
public enum QuantIssues
{
    /// <summary>Nothing.</summary>
    None = 0,

    /// <summary>The unit received no tokens; it is quantized round-to-nearest.</summary>
    ZeroSamples = 1,

    /// <summary>The Hessian held NaN and was replaced by the identity.</summary>
    NanHessian = 2,

    /// <summary>The damped Hessian was not positive definite.</summary>
    NonInvertible = 4,
}

/// <summary>What the pipeline did when the quantization kernel kept failing for a unit.</summary>
public enum QuantFallback
{
    /// <summary>Quantized at the first try, or after a plain retry.</summary>
    None,

    /// <summary>Quantized after a retry with larger damping (<see cref="UnitReport.Damping"/> says how much).</summary>
    MoreDamping,

    /// <summary>Every try failed; the unit keeps its original weights and the run goes on.</summary>
    Unquantized,
}

/// <summary>The outcome of one unit, as it goes into the journal and the quality report.</summary>
/// <param name="Unit">The unit.</param>
/// <param name="Tokens">Calibration tokens the unit saw.</param>
/// <param name="Loss">GPTQ proxy loss; NaN when the unit is unquantized.</param>
/// <param name="RtnLoss">Proxy loss of round-to-nearest with the same scales; NaN when unquantized.</param>
/// <param name="Damping">Relative damping that produced the result.</param>
/// <param name="Retries">Kernel retries it took (0 when the first try succeeded).</param>
/// <param name="Fallback">What the retry policy had to do.</param>
/// <param name="Issues">Hessian issues.</param>
/// <param name="Sha256">Hash of the unit's state file; empty when unquantized.</param>
/// <param name="Error">Last kernel error when <paramref name="Fallback"/> is Unquantized; empty otherwise.</param>
public sealed record UnitReport(
    UnitId Unit,
    long Tokens,
    double Loss,
    double RtnLoss,
    double Damping,
    int Retries,
    QuantFallback Fallback,
    QuantIssues Issues,
    string Sha256,
    string Error);

/// <summary>Coordinator → every GpuNode: every Hessian of the wave is reduced; quantize your units of it.</summary>
/// <param name="Plan">The attempt.</param>
/// <param name="Wave">The wave.</param>
public sealed record QuantizeUnits(PlanId Plan, int Wave) : IMoeQuantMessage;

/// <summary>ExpertHessianActor → coordinator: the unit is quantized (or, after its retries, reported unquantized) and
/// its state file is durable.</summary>
/// <param name="Plan">The attempt.</param>
/// <param name="Report">The outcome.</param>
/// <param name="Result">Where the quantized weights wait for the propagation forward; null when unquantized.</param>
public sealed record UnitQuantized(PlanId Plan, UnitReport Report, BulkRef? Result) : IMoeQuantMessage;

/// <summary>A quantized unit's parked result, for the propagation forward.</summary>
/// <param name="Unit">The unit.</param>
/// <param name="Result">Where its quantized weights wait.</param>
public sealed record QuantizedRef(UnitId Unit, BulkRef Result);

/// <summary>Coordinator → GpuNode (→ DataParallelActor): run these shards through the block with the quantized weights
/// and write the next layer's inputs.</summary>
/// <param name="Plan">The attempt.</param>
/// <param name="Shards">The shards the plan gives this device.</param>
/// <param name="Quantized">Every quantized unit of the layer (units missing here keep their original weights).</param>
public sealed record CommitShards(PlanId Plan, ImmutableArray<int> Shards, ImmutableArray<QuantizedRef> Quantized) : IMoeQuantMessage;

/// <summary>DataParallelActor → coordinator: the shard's next-layer input is durable.</summary>
/// <param name="Plan">The attempt.</param>
/// <param name="Shard">The shard.</param>
/// <param name="Sha256">Hash of the written file.</param>
public sealed record ShardCommitted(PlanId Plan, int Shard, string Sha256) : IMoeQuantMessage;
