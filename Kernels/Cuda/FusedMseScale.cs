using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// MoE-Quant's MSE scale search on a CUDA device in one launch (Cuda/MseScale.cu): one warp per (row, group) tries
/// every candidate scale on the group's values. The tensor reference is <c>GroupQuantizer.FitReference</c>.
/// </summary>
public static class FusedMseScale
{
    /// <summary>Most candidates one warp holds (4 per lane).</summary>
    public const int MaxCandidates = 128;

    private const int WarpsPerBlock = 8;

    /// <summary>The index of the best candidate factor of every (row, group).</summary>
    /// <param name="values">(N, groupSize) fp32 contiguous CUDA: each (row, group)'s values.</param>
    /// <param name="scale">(N) fp32 contiguous: the absmax scale, rounded to the scale dtype.</param>
    /// <param name="zero">(N) fp32 contiguous: the zero point.</param>
    /// <param name="shrink">(P) fp32 contiguous, P ≤ <see cref="MaxCandidates"/>: candidate factors.</param>
    /// <param name="maxCode">2^bits − 1.</param>
    /// <param name="smallestScale">Smallest scale allowed.</param>
    /// <param name="halfUp">true: floor(v + 0.5); false: half to even.</param>
    /// <param name="rounding">Scale dtype rounding of each candidate.</param>
    /// <returns>(N) int64 candidate indices, the first minimum of each (row, group).</returns>
    public static Tensor BestCandidate(Tensor values, Tensor scale, Tensor zero, Tensor shrink, int maxCode, float smallestScale, bool halfUp, FusedGptqLoop.Rounding rounding)
    {
        var (count, groupSize, candidates) = (values.shape[0], (int)values.shape[1], (int)shrink.shape[0]);
        if (candidates is < 1 or > MaxCandidates || scale.numel() != count || zero.numel() != count)
        {
            throw new ArgumentException($"expected (N, g) values with N scales and zero points and 1..{MaxCandidates} candidates; got {count}, {scale.numel()}, {zero.numel()}, {candidates}");
        }

        foreach (var (name, tensor) in new[] { ("values", values), ("scale", scale), ("zero", zero), ("shrink", shrink) })
        {
            if (!tensor.is_contiguous() || tensor.dtype != ScalarType.Float32)
            {
                throw new ArgumentException($"{name} must be contiguous float32", name);
            }
        }

        var best = empty(count, dtype: ScalarType.Int32, device: values.device);
        if (count == 0)
        {
            return best.to_type(ScalarType.Int64);
        }

        var kernel = CudaModuleCache.Get(values.device.index, "MseScale", "mse_scale");
        var blocks = (uint)((count + WarpsPerBlock - 1) / WarpsPerBlock);
        kernel.Launch(
            (blocks, 1u, 1u), (32u * WarpsPerBlock, 1u, 1u), 0,
            KernelArgument.Of(values), KernelArgument.Of(scale), KernelArgument.Of(zero), KernelArgument.Of(shrink), KernelArgument.Of(best),
            count, groupSize, candidates, (float)maxCode, smallestScale, halfUp ? 1 : 0, (int)rounding);
        using (best)
        {
            return best.to_type(ScalarType.Int64);
        }
    }
}
