using MoeQuant.Kernels.Gptq;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// The GPTQ column loop on a CUDA device for a batch of same-shape matrices: per block of columns one fused kernel
/// (Cuda/GptqBlock.cu) for the in-block work, then one batched matrix product for the lazy update of later columns.
/// Inputs are prepared by the engine (permutation, damping, factorisation, static scales); this is only the hot loop.
/// </summary>
public static class FusedGptqLoop
{
    private const int ThreadsPerBlock = 128;

    /// <summary>How the dequantized value is rounded inside the loop (the model dtype the weight is stored in).</summary>
    public enum Rounding
    {
        None = 0,
        BFloat16 = 1,
        Float16 = 2,
    }

    /// <summary>Runs the loop in place.</summary>
    /// <param name="wt">(E, C, R) fp32 contiguous: transposed weights in processing order; ends holding the dequantized weights.</param>
    /// <param name="uhat">
    /// (F, C, C) fp32 contiguous, F dividing E: row-normalised upper Cholesky factors of H⁻¹ (unit diagonal); matrix e
    /// uses factor e mod F. F = E: one factor per matrix; F = 1: one shared factor; E = T·F: T tied weights of F
    /// Hessians, laid out weight-position-major (all first weights, then all second weights, ...).
    /// </param>
    /// <param name="scale">(E, G, R) fp32 contiguous: scale per group and row.</param>
    /// <param name="zero">(E, G, R) fp32 contiguous: zero point per group and row.</param>
    /// <param name="group">(E, C) int32 contiguous: the group of each processing-order column.</param>
    /// <param name="bits">Code width, 2..8.</param>
    /// <param name="blockSize">Columns per block, 1..128.</param>
    /// <param name="halfUp">true: floor(x + 0.5) (MoE-Quant); false: round half to even.</param>
    /// <param name="rounding">Model dtype rounding of dequantized values.</param>
    /// <param name="stage">Stage announcements (<see cref="GptqBatchSettings.Stages"/>): the fused kernel of each block, then its lazy update; null: none.</param>
    /// <returns>(E, C, R) uint8 codes in processing order.</returns>
    public static Tensor Run(Tensor wt, Tensor uhat, Tensor scale, Tensor zero, Tensor group, int bits, int blockSize, bool halfUp, Rounding rounding, Action<GptqStage>? stage = null)
    {
        var (matrices, columns, rows) = ((int)wt.shape[0], (int)wt.shape[1], (int)wt.shape[2]);
        var groups = (int)scale.shape[1];
        var factors = (int)uhat.shape[0];
        if (blockSize is < 1 or > 128 || bits is < 2 or > 8)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), $"block size {blockSize} (1..128) or bits {bits} (2..8) out of range");
        }

        if (factors < 1 || matrices % factors != 0)
        {
            throw new ArgumentException($"{factors} factors do not divide {matrices} matrices", nameof(uhat));
        }

        foreach (var (name, tensor) in new[] { ("wt", wt), ("uhat", uhat), ("scale", scale), ("zero", zero), ("group", group) })
        {
            if (!tensor.is_contiguous())
            {
                throw new ArgumentException($"{name} must be contiguous (linear algebra results are often column-major: call contiguous())", name);
            }
        }

        var device = wt.device.index;
        var kernel = CudaModuleCache.Get(device, "GptqBlock", "gptq_block");
        var codes = empty(matrices, columns, rows, dtype: ScalarType.Byte, device: wt.device);
        var error = empty(matrices, blockSize, rows, dtype: ScalarType.Float32, device: wt.device);
        var uhatStride = factors == 1 ? 0L : (long)columns * columns;
        var grid = ((uint)((rows + ThreadsPerBlock - 1) / ThreadsPerBlock), (uint)matrices, 1u);

        for (var start = 0; start < columns; start += blockSize)
        {
            var width = Math.Min(blockSize, columns - start);
            var shared = sizeof(float) * (width * width + width * ThreadsPerBlock);
            stage?.Invoke(GptqStage.ColumnLoop);
            kernel.Launch(
                grid, (ThreadsPerBlock, 1u, 1u), shared,
                KernelArgument.Of(wt), KernelArgument.Of(codes), KernelArgument.Of(error), KernelArgument.Of(uhat),
                KernelArgument.Of(scale), KernelArgument.Of(zero), KernelArgument.Of(group),
                columns, rows, groups, start, width, (float)((1 << bits) - 1), halfUp ? 1 : 0, (int)rounding, uhatStride, factors);

            var end = start + width;
            if (end < columns)
            {
                stage?.Invoke(GptqStage.LazyUpdate);
                LazyBlockUpdate.Apply(wt, uhat, error, start, width);
            }
        }

        error.Dispose();
        return codes;
    }
}
