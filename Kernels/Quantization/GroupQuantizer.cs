using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Quantization;

/// <summary>
/// Scales, zero points and codes of group-wise integer quantization (MoE-Quant <c>quant_utils.py</c>, with its sign and
/// all-zero-group bugs fixed). All tensors are float32 on one device; codes and zero points are integer-valued float32
/// in <c>[0, MaxCode]</c>, and a value is <c>scale · (code − zero)</c> rounded to the spec's scale dtype.
/// </summary>
public static class GroupQuantizer
{
    private const int MseCandidates = 100;
    private const double MseSmallestShrink = 0.2;
    private const double MseNorm = 2.4;

    // Bounds the (candidates × values) tile of the MSE search at 2 Mi elements: on a CPU larger temporaries fall out of
    // cache (measured 2× slower at 32 Mi), and on a GPU a weight of that size already fills the device per candidate.
    private const long MseTileElements = 1L << 21;

    /// <summary>Fits one scale and zero point per (row, group).</summary>
    /// <param name="values">(rows, groups, groupSize) float32: the values of each group.</param>
    /// <param name="spec">The quantizer.</param>
    /// <returns>
    /// Scale: (rows, groups) float32, every value representable in <see cref="QuantizerSpec.ScaleDtype"/> and at least
    /// <see cref="QuantizerSpec.SmallestScale"/>. Zero: (rows, groups) float32, integers in <c>[0, MaxCode]</c>.
    /// </returns>
    public static (Tensor Scale, Tensor Zero) Fit(Tensor values, QuantizerSpec spec) => FitWith(values, spec, fused: true);

    /// <summary>
    /// <see cref="Fit"/> with tensor operations only, on any device: the reference the fused CUDA MSE search
    /// (<see cref="FusedMseScale"/>) is checked against. The two agree except where two candidates' fp64 loss sums tie
    /// to within their summation order.
    /// </summary>
    /// <param name="values">(rows, groups, groupSize) float32: the values of each group.</param>
    /// <param name="spec">The quantizer.</param>
    /// <returns>As <see cref="Fit"/>.</returns>
    public static (Tensor Scale, Tensor Zero) FitReference(Tensor values, QuantizerSpec spec) => FitWith(values, spec, fused: false);

    private static (Tensor Scale, Tensor Zero) FitWith(Tensor values, QuantizerSpec spec, bool fused)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(spec);
        using var scope = NewDisposeScope();
        var hi = values.amax([-1]);
        var lo = values.amin([-1]);
        Tensor scale, zero;
        if (spec.Symmetric)
        {
            // 1) symmetric: scale = 2·absmax/maxq and z = 2^(b−1), MoE-Quant's and GPTQ's convention (±absmax ↦ ±maxq/2).
            scale = RoundScale(maximum(hi.abs(), lo.abs()).mul_(PinnedScalars.Of(2.0 / spec.MaxCode)), spec);
            zero = full_like(scale, PinnedScalars.Of(spec.ZeroOffset));
        }
        else
        {
            // 1) asymmetric: the range is widened to hold 0, so the scale is positive and z = round(−min/scale) needs no
            //    clamp to represent the group; MoE-Quant's swapped min/max gave a negative scale (GPTQ.md §4.1).
            lo = lo.clamp(max: PinnedScalars.Zero);
            hi = hi.clamp(min: PinnedScalars.Zero);
            scale = RoundScale((hi - lo).div_(PinnedScalars.Of(spec.MaxCode)), spec);
            zero = lo.neg().div_(scale).round_().clamp_(PinnedScalars.Zero, PinnedScalars.Of(spec.MaxCode));
        }

        if (spec.Search == ScaleSearch.Mse)
        {
            scale = fused && values.device_type == DeviceType.CUDA ? ShrinkByMseFused(values, scale, zero, spec) : ShrinkByMse(values, scale, zero, spec);
        }

        return (scale.MoveToOuterDisposeScope(), zero.MoveToOuterDisposeScope());
    }

    /// <summary>Unsigned codes of <paramref name="values"/>.</summary>
    /// <param name="values">float32, any shape that broadcasts with <paramref name="scale"/> and <paramref name="zero"/>.</param>
    /// <param name="scale">float32, positive.</param>
    /// <param name="zero">float32, integers in <c>[0, MaxCode]</c>.</param>
    /// <param name="spec">The quantizer.</param>
    /// <returns>float32 integers in <c>[0, MaxCode]</c>, the broadcast shape.</returns>
    public static Tensor Quantize(Tensor values, Tensor scale, Tensor zero, QuantizerSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var v = values / scale;
        v.add_(zero, PinnedScalars.One);
        var rounded = spec.Rounding == CodeRounding.HalfUp ? v.add_(PinnedScalars.Half, PinnedScalars.One).floor_() : v.round_();
        return rounded.clamp_(PinnedScalars.Zero, PinnedScalars.Of(spec.MaxCode));
    }

    /// <summary>Values of codes: <c>scale · (codes − zero)</c> rounded to the scale dtype, as an inference kernel computes them.</summary>
    /// <param name="codes">float32 integers in <c>[0, MaxCode]</c>.</param>
    /// <param name="scale">float32, broadcasting with <paramref name="codes"/>.</param>
    /// <param name="zero">float32, broadcasting with <paramref name="codes"/>.</param>
    /// <param name="spec">The quantizer.</param>
    /// <returns>float32 values representable in <see cref="QuantizerSpec.ScaleDtype"/>.</returns>
    public static Tensor Dequantize(Tensor codes, Tensor scale, Tensor zero, QuantizerSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        // (code − zero) is an integer of at most 9 bits and scale has at most 24: their fp32 product is exact, so one
        // rounding to the scale dtype gives exactly what a bf16/fp16 multiply at inference gives.
        return RoundToDtype((codes - zero).mul_(scale), spec.ScaleDtype);
    }

    /// <summary>Rounds float32 values to the nearest (ties to even) value of <paramref name="dtype"/>, kept as float32.</summary>
    /// <param name="values">float32, any shape.</param>
    /// <param name="dtype">BFloat16, Float16 or Float32 (no rounding).</param>
    /// <returns>float32, same shape.</returns>
    public static Tensor RoundToDtype(Tensor values, ScalarType dtype)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (dtype == ScalarType.Float32)
        {
            return values;
        }

        using var narrow = values.to_type(dtype);
        return narrow.to_type(ScalarType.Float32);
    }

    private static Tensor RoundScale(Tensor raw, QuantizerSpec spec) =>
        RoundToDtype(raw, spec.ScaleDtype).clamp_(min: PinnedScalars.Of(spec.SmallestScale));

    // The same search in one CUDA launch: the kernel picks each (row, group)'s candidate index, and the scale is then
    // rebuilt here exactly as the reference rebuilds it.
    private static Tensor ShrinkByMseFused(Tensor values, Tensor scale, Tensor zero, QuantizerSpec spec)
    {
        var shrink = linspace(1.0, MseSmallestShrink, MseCandidates, ScalarType.Float32, values.device);
        var rounding = spec.ScaleDtype == ScalarType.BFloat16 ? FusedGptqLoop.Rounding.BFloat16
            : spec.ScaleDtype == ScalarType.Float16 ? FusedGptqLoop.Rounding.Float16
            : FusedGptqLoop.Rounding.None;
        var best = FusedMseScale.BestCandidate(
            values.reshape(-1, values.shape[^1]).contiguous(),
            scale.reshape(-1).contiguous(),
            zero.reshape(-1).contiguous(),
            shrink,
            spec.MaxCode,
            (float)spec.SmallestScale,
            spec.Rounding == CodeRounding.HalfUp,
            rounding);
        var chosen = shrink.index_select(0, best).view_as(scale);
        return RoundScale(scale * chosen, spec);
    }

    private static Tensor ShrinkByMse(Tensor values, Tensor scale, Tensor zero, QuantizerSpec spec)
    {
        // 1) candidates p_k = linspace(1, 0.2, 100); each candidate scale is round(scale·p_k), the zero point stays.
        var shrink = linspace(1.0, MseSmallestShrink, MseCandidates, ScalarType.Float32, values.device);
        var x = values.unsqueeze(0);
        var z = zero.unsqueeze(0).unsqueeze(-1);
        var perTile = (int)Math.Clamp(MseTileElements / Math.Max(1, values.numel()), 1, MseCandidates);
        Tensor? bestLoss = null;
        Tensor? bestIndex = null;
        for (var start = 0; start < MseCandidates; start += perTile)
        {
            using var tile = NewDisposeScope();
            var count = Math.Min(perTile, MseCandidates - start);
            var candidate = RoundScale(scale.unsqueeze(0) * shrink.narrow(0, start, count).view(-1, 1, 1), spec).unsqueeze(-1);
            // 2) loss Σ|dequant − x|^2.4 per (candidate, row, group). The error is exact in fp32; |e|^2.4 is
            //    exp(2.4·ln|e|) as in MoE-Quant's kernel (ln 0 = −∞ gives 0), which libtorch vectorizes and pow does
            //    not; the sum runs in fp64 so that its order (which differs by device) cannot decide ties.
            var error = (Quantize(x, candidate, z, spec) - z).mul_(candidate).sub_(x).abs_();
            var loss = error.log_().mul_(PinnedScalars.Of(MseNorm)).exp_().sum(-1, type: ScalarType.Float64);
            var (tileLoss, tileIndex) = loss.min(0);
            using var offset = start.ToScalar(); // an integer Scalar (indices are int64), held to the end: see PinnedScalars
            tileIndex.add_(offset);
            // 3) keep the first minimum over all tiles: a later tile wins only when strictly better.
            if (bestLoss is null || bestIndex is null)
            {
                bestLoss = tileLoss.MoveToOuterDisposeScope();
                bestIndex = tileIndex.MoveToOuterDisposeScope();
            }
            else
            {
                var better = tileLoss < bestLoss;
                bestLoss.copy_(where(better, tileLoss, bestLoss));
                bestIndex.copy_(where(better, tileIndex, bestIndex));
            }
        }

        var chosen = shrink.index_select(0, bestIndex!.flatten()).view_as(scale);
        return RoundScale(scale * chosen, spec);
    }
}
