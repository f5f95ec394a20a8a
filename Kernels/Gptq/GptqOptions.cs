using MoeQuant.Kernels.Quantization;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>Order in which GPTQ quantizes the input columns (MoE-Quant <c>--quantization_order</c>).</summary>
public enum QuantizationOrder
{
    /// <summary>Natural column order.</summary>
    Default,

    /// <summary>Act-order: columns by descending Hessian diagonal; the result is returned in natural order.</summary>
    Activation,
}

/// <summary>What to do with a unit whose Hessian rests on fewer than <see cref="GptqOptions.MinTokens"/> tokens.</summary>
public enum FewTokensPolicy
{
    /// <summary>Round to nearest with the same quantizer, flagged (the default; GPTQModel's fallback, GPTQ.md §11).</summary>
    RoundToNearest,

    /// <summary>Run GPTQ on the rank-deficient, damped Hessian anyway (MoE-Quant's behaviour), flagged.</summary>
    Gptq,

    /// <summary>Throw <see cref="InsufficientCalibrationException"/>.</summary>
    Fail,
}

/// <summary>What to do when the damped Hessian still has no Cholesky factor after every retry.</summary>
public enum NonInvertiblePolicy
{
    /// <summary>Throw <see cref="HessianNotInvertibleException"/> (the default).</summary>
    Fail,

    /// <summary>Round to nearest with the same quantizer and flag <see cref="GptqIssues.NonInvertible"/>.</summary>
    RoundToNearest,
}

/// <summary>
/// GPTQ settings. Defaults are MoE-Quant's CLI defaults, except where noted: symmetric (its packer forces it and vLLM's
/// MoE kernels require it) and group size 128 (its README and the export format's common case).
/// </summary>
public sealed record GptqOptions
{
    /// <summary>Code width, 2..8 (<c>--bits</c>).</summary>
    public int Bits { get; init; } = 4;

    /// <summary>Input columns per scale: a divisor of the input width, or −1 for one group per row (per channel).</summary>
    public int GroupSize { get; init; } = 128;

    /// <summary>Symmetric (zero point <c>2^(bits−1)</c>) or asymmetric with a fitted zero point.</summary>
    public bool Symmetric { get; init; } = true;

    /// <summary>Damping <c>λ = RelDamp · mean(diag H)</c> added to the diagonal (<c>--rel_damp</c>); must be positive.</summary>
    public double RelDamp { get; init; } = 0.01;

    /// <summary>Times the damping is multiplied by 10 after a failed Cholesky factorization before giving up.</summary>
    public int DampingRetries { get; init; } = 3;

    /// <summary>Columns per lazy-update block (<c>--block_size</c>); 0 means the whole width.</summary>
    public int BlockSize { get; init; } = 128;

    /// <summary>Column order (<c>--quantization_order</c>).</summary>
    public QuantizationOrder Order { get; init; } = QuantizationOrder.Default;

    /// <summary>Scale choice (<c>--quantization_scale</c>).</summary>
    public ScaleSearch Scale { get; init; } = ScaleSearch.AbsMax;

    /// <summary>
    /// Static groups (MoE-Quant, the default): every scale is fitted on the original weight's contiguous groups before
    /// GPTQ runs, so <c>g_idx[c] = c / GroupSize</c> in any order. Otherwise (the GPTQ paper): a group's scale is fitted
    /// on the error-updated weight when the loop reaches the group's first column, and under act-order groups follow
    /// the processing order (compressed-tensors <c>actorder: group</c>, which needs <c>weight_g_idx</c>).
    /// </summary>
    public bool StaticGroups { get; init; } = true;

    /// <summary>Dtype of the stored scales and dequantized weight: BFloat16 (default), Float16 or Float32.</summary>
    public ScalarType ScaleDtype { get; init; } = ScalarType.BFloat16;

    /// <summary>Code rounding: half up as MoE-Quant's kernel, or half to even as the paper's torch code.</summary>
    public CodeRounding Rounding { get; init; } = CodeRounding.HalfUp;

    /// <summary>
    /// Fewest tokens for GPTQ; null means the input width, below which the Hessian is rank-deficient. Units with zero
    /// tokens are always rounded to nearest (or fail under <see cref="FewTokensPolicy.Fail"/>).
    /// </summary>
    public long? MinTokens { get; init; }

    /// <summary>What to do with a unit that saw fewer than <see cref="MinTokens"/> tokens.</summary>
    public FewTokensPolicy FewTokens { get; init; } = FewTokensPolicy.RoundToNearest;

    /// <summary>What to do when damping retries cannot make the Hessian factorizable.</summary>
    public NonInvertiblePolicy NonInvertible { get; init; } = NonInvertiblePolicy.Fail;

    /// <summary>The quantizer these options describe.</summary>
    public QuantizerSpec ToQuantizerSpec() => new(Bits, Symmetric, Scale, ScaleDtype, Rounding);
}
