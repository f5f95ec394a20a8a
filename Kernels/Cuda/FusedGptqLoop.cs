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
    // Two threads a row (Cuda/GptqBlock.cu): 128 rows a block.
    private const int ThreadsPerBlock = 256;
    private const int RowsPerBlock = ThreadsPerBlock / 2;

    /// <summary>How the dequantized value is rounded inside the loop (the model dtype the weight is stored in).</summary>
    public enum Rounding
    {
        None = 0,
        BFloat16 = 1,
        Float16 = 2,
    }

    /// <summary>The rounding that stores values in <paramref name="dtype"/> (bf16, fp16; none for fp32).</summary>
    public static Rounding RoundingFor(ScalarType dtype) =>
        dtype == ScalarType.BFloat16 ? Rounding.BFloat16 : dtype == ScalarType.Float16 ? Rounding.Float16 : Rounding.None;

    /// <summary>Columns whose lazy updates to the columns after them are deferred and applied as one product.</summary>
    /// <remarks>
    /// Blocks of 128 columns update only the rest of their span; each span then updates every later column at once, so
    /// the tail of the weights is read and written once per span instead of once per block (under a third of the traffic
    /// at 512 for C = 7168), for the same products.
    /// </remarks>
    public const int DefaultSpan = 512;

    /// <summary>Runs the loop in place.</summary>
    /// <param name="wt">(E, C, R) fp32 contiguous: transposed weights in processing order; ends holding the dequantized weights.</param>
    /// <param name="factor">
    /// (F, C, C) fp32 contiguous unit upper factors, F dividing E; matrix e uses factor e mod F. F = E: one factor per
    /// matrix; F = 1: one shared factor; E = T·F: T tied weights of F Hessians, laid out weight-position-major (all
    /// first weights, then all second weights, ...): Û, rows of the upper Cholesky factor U of H⁻¹ over their diagonal.
    /// </param>
    /// <param name="scale">(E, G, R) fp32 contiguous: scale per group and row.</param>
    /// <param name="zero">(E, G, R) fp32 contiguous: zero point per group and row.</param>
    /// <param name="group">(E, C) int32 contiguous: the group of each processing-order column.</param>
    /// <param name="bits">Code width, 2..8.</param>
    /// <param name="blockSize">Columns per block, 1..128.</param>
    /// <param name="halfUp">true: floor(x + 0.5) (MoE-Quant); false: round half to even.</param>
    /// <param name="rounding">Model dtype rounding of dequantized values.</param>
    /// <param name="lossWeight">
    /// (F, C) fp32 contiguous per-column loss weights 1/U_jj² (R_jj² for V), or null: no loss.
    /// </param>
    /// <param name="span">Columns per deferred lazy update (<see cref="DefaultSpan"/>), rounded down to whole blocks.</param>
    /// <param name="original">
    /// (E, C, R) fp32 contiguous: the weights before the loop, when <paramref name="factor"/> is V = −R·diag(R)⁻¹ by
    /// columns (H = R·Rᵀ) and errors are fed forward against them (Cuda/GptqBlock.cu); null when it is Û.
    /// </param>
    /// <param name="stage">Stage announcements (<see cref="GptqBatchSettings.Stages"/>): the fused kernel of each block, then its lazy update; null: none.</param>
    /// <returns>(E, C, R) uint8 codes in processing order, and (E, R) fp64 losses Σ c_j·d_j² (null without loss weights).</returns>
    public static (Tensor Codes, Tensor? Loss) Run(
        Tensor wt, Tensor factor, Tensor scale, Tensor zero, Tensor group, int bits, int blockSize, bool halfUp, Rounding rounding,
        Tensor? lossWeight = null, int span = DefaultSpan, Action<GptqStage>? stage = null, Tensor? original = null)
    {
        var (matrices, columns, rows) = ((int)wt.shape[0], (int)wt.shape[1], (int)wt.shape[2]);
        var groups = (int)scale.shape[1];
        var factors = (int)factor.shape[0];
        if (blockSize is < 1 or > 128 || bits is < 2 or > 8)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), $"block size {blockSize} (1..128) or bits {bits} (2..8) out of range");
        }

        if (factors < 1 || matrices % factors != 0)
        {
            throw new ArgumentException($"{factors} factors do not divide {matrices} matrices", nameof(factor));
        }

        var inputs = new[] { ("wt", wt), ("factor", factor), ("scale", scale), ("zero", zero), ("group", group), ("lossWeight", lossWeight), ("original", original) };
        foreach (var (name, tensor) in inputs)
        {
            if (tensor is not null && !tensor.is_contiguous())
            {
                throw new ArgumentException($"{name} must be contiguous (linear algebra results are often column-major: call contiguous())", name);
            }
        }

        var device = wt.device.index;
        var kernel = CudaModuleCache.Get(device, "GptqBlock", "gptq_block");
        var codes = empty(matrices, columns, rows, dtype: ScalarType.Byte, device: wt.device);
        var loss = lossWeight is null ? null : zeros(matrices, rows, dtype: ScalarType.Float64, device: wt.device);
        var spanColumns = Math.Min(columns, Math.Max(blockSize, span / blockSize * blockSize));
        using var error = empty(matrices, spanColumns, rows, dtype: ScalarType.Float32, device: wt.device);
        var factorStride = factors == 1 ? 0L : (long)columns * columns;
        var grid = ((uint)((rows + RowsPerBlock - 1) / RowsPerBlock), (uint)matrices, 1u);
        var (lossWeightPointer, lossPointer, originalPointer) = (Pointer(lossWeight), Pointer(loss), Pointer(original));

        for (var spanStart = 0; spanStart < columns; spanStart += spanColumns)
        {
            var spanEnd = Math.Min(spanStart + spanColumns, columns);
            for (var start = spanStart; start < spanEnd; start += blockSize)
            {
                var width = Math.Min(blockSize, spanEnd - start);
                stage?.Invoke(GptqStage.ColumnLoop);
                kernel.Launch(
                    grid, (ThreadsPerBlock, 1u, 1u), SharedBytes,
                    KernelArgument.Of(wt), KernelArgument.Of(codes), KernelArgument.Of(error), KernelArgument.Of(factor),
                    KernelArgument.Of(scale), KernelArgument.Of(zero), KernelArgument.Of(group), lossWeightPointer, lossPointer,
                    columns, rows, groups, start, width, (float)((1 << bits) - 1), halfUp ? 1 : 0, (int)rounding, factorStride, factors,
                    spanColumns, start - spanStart, originalPointer);

                // This block's errors reach the rest of its span now; the columns after the span wait for the span's end.
                if (start + width < spanEnd)
                {
                    stage?.Invoke(GptqStage.LazyUpdate);
                    LazyBlockUpdate.Apply(wt, factor, error, start - spanStart, start, width, spanEnd);
                }
            }

            if (spanEnd < columns)
            {
                stage?.Invoke(GptqStage.LazyUpdate);
                LazyBlockUpdate.Apply(wt, factor, error, 0, spanStart, spanEnd - spanStart, columns);
            }
        }

        return (codes, loss);
    }

    // The kernel's factor slice, GPTQ_MAX_BLOCK² fp32 whatever the block width (zero outside it), and its columns' groups.
    private const int SharedBytes = (sizeof(float) * 128 * 128) + (sizeof(int) * 128);

    private static IntPtr Pointer(Tensor? tensor) => tensor is null ? IntPtr.Zero : DevicePointer.Of(tensor);
}
