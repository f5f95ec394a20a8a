using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>How a unit's codes were chosen.</summary>
public enum QuantMethod
{
    /// <summary>GPTQ with error feedback.</summary>
    Gptq,

    /// <summary>Round to nearest with the same quantizer (no tokens, too few tokens, or a non-invertible Hessian).</summary>
    RoundToNearest,
}

/// <summary>
/// One quantized linear weight, in compressed-tensors' convention (FORMATS.md §3.1–3.5) so the exporter needs no
/// conversion: <c>Dequantized[r, c] = Scales[r, g] × (Codes[r, c] − ZeroPoints[r, g])</c> with <c>g = GIdx[c]</c>,
/// computed exactly in fp32 and rounded once to the scale dtype. Codes and zero points are signed
/// (<c>[−2^(b−1), 2^(b−1)−1]</c>); <c>weight_packed</c> stores <c>Codes + 2^(b−1)</c>, and a symmetric result has all
/// zero points 0 (no <c>weight_zero_point</c> is written). Owns its tensors, on the weight's device; dispose it.
/// </summary>
public sealed class QuantResult : IDisposable
{
    /// <summary>The unit's name.</summary>
    public required string Unit { get; init; }

    /// <summary>(rows, columns) int8: signed codes in natural column order.</summary>
    public required Tensor Codes { get; init; }

    /// <summary>(rows, groups) in <see cref="GptqOptions.ScaleDtype"/>: positive scales, groups indexed as in <see cref="GIdx"/>.</summary>
    public required Tensor Scales { get; init; }

    /// <summary>(rows, groups) int8: signed zero points, all 0 when <see cref="Symmetric"/>.</summary>
    public required Tensor ZeroPoints { get; init; }

    /// <summary>(columns) int32: the group of each original column.</summary>
    public required Tensor GIdx { get; init; }

    /// <summary>(rows, columns) in <see cref="GptqOptions.ScaleDtype"/>: the weight an inference kernel reconstructs.</summary>
    public required Tensor Dequantized { get; init; }

    /// <summary>Code width.</summary>
    public required int Bits { get; init; }

    /// <summary>Columns per group; the input width for per-channel quantization.</summary>
    public required int GroupSize { get; init; }

    /// <summary>Whether zero points are all 0.</summary>
    public required bool Symmetric { get; init; }

    /// <summary>
    /// True when <c>GIdx[c] = c / GroupSize</c> (static groups, or natural order): export writes <c>actorder: null</c>
    /// and no <c>weight_g_idx</c>. False for dynamic groups under act-order (<c>actorder: group</c> with g_idx).
    /// </summary>
    public required bool ContiguousGroups { get; init; }

    /// <summary>How the codes were chosen.</summary>
    public required QuantMethod Method { get; init; }

    /// <summary>Calibration tokens behind the Hessian.</summary>
    public required long Tokens { get; init; }

    /// <summary>Relative damping that factorized the Hessian; 0 when no factorization was used.</summary>
    public required double RelDamp { get; init; }

    /// <summary>Input columns that never saw a non-zero activation (their weights were zeroed).</summary>
    public required int DeadColumns { get; init; }

    /// <summary>
    /// <c>tr((W−Q) H (W−Q)ᵀ) / tr(W H Wᵀ)</c> for the returned weight, with the undamped Hessian in natural column order
    /// (the calibration output error). Null when it cannot be estimated: no tokens, or <c>tr(W H Wᵀ) = 0</c>.
    /// </summary>
    public required double? GptqLoss { get; init; }

    /// <summary>The same figure for round-to-nearest with the same static scales, so reports show what GPTQ gained.</summary>
    public required double? RtnLoss { get; init; }

    /// <summary>What went unusually.</summary>
    public required GptqIssues Issues { get; init; }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        Codes.Dispose();
        Scales.Dispose();
        ZeroPoints.Dispose();
        GIdx.Dispose();
        Dequantized.Dispose();
    }
}
