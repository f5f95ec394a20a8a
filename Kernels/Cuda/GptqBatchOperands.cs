using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// The memory-bound steps around a GPTQ batch on a CUDA device, one pass each (Cuda/GptqBatchOperands.cu), where torch's
/// op chains read and wrote the weights or factors two to five times: with 44 million weights per DeepSeek-V3 expert each
/// pass costs about 0.06 ms of the expert's time, and each pass over its two factors about 0.14 ms.
/// </summary>
internal static class GptqBatchOperands
{
    private const int Threads = 256;

    // Rows per partial sum of ColumnSquareDifferences: enough blocks to fill the GPU, few partials to add.
    private const int RowSpan = 256;

    /// <summary>Writes <paramref name="source"/> widened to fp32 into <paramref name="target"/>, dead columns zero (masked_fill's +0).</summary>
    /// <param name="source">(R, C) fp32, bf16 or fp16 contiguous.</param>
    /// <param name="target">(R, C) fp32 contiguous.</param>
    /// <param name="dead">(C) bool contiguous.</param>
    public static void WidenMasked(Tensor source, Tensor target, Tensor dead)
    {
        var type = source.dtype switch
        {
            ScalarType.Float32 => 0,
            ScalarType.BFloat16 => 1,
            ScalarType.Float16 => 2,
            _ => throw new ArgumentException($"weights of {source.dtype} are not supported: fp32, bf16 or fp16", nameof(source)),
        };
        var (rows, columns) = ((int)source.shape[0], (int)source.shape[1]);
        if (rows * (long)columns == 0)
        {
            return;
        }

        CudaModuleCache.Get(source.device.index, "GptqBatchOperands", "widen_masked").Launch(
            (Blocks(columns), (uint)rows, 1u), (Threads, 1u, 1u), 0,
            KernelArgument.Of(source), KernelArgument.Of(target), KernelArgument.Of(dead), columns, type);
    }

    /// <summary>(E, 2R, C) bf16: each matrix's [W; RTN − W], the difference taken in fp32 and rounded once.</summary>
    /// <param name="weight">(E, R, C) fp32 contiguous.</param>
    /// <param name="rtn">(E, R, C) fp32 contiguous.</param>
    public static Tensor TraceOperand(Tensor weight, Tensor rtn)
    {
        var (count, rows, columns) = ((int)weight.shape[0], (int)weight.shape[1], (int)weight.shape[2]);
        var operand = empty(count, 2 * rows, columns, ScalarType.BFloat16, weight.device);
        if (operand.numel() > 0)
        {
            CudaModuleCache.Get(weight.device.index, "GptqBatchOperands", "trace_operand").Launch(
                (Blocks(columns), (uint)rows, (uint)count), (Threads, 1u, 1u), 0,
                KernelArgument.Of(weight), KernelArgument.Of(rtn), KernelArgument.Of(operand), rows, columns);
        }

        return operand;
    }

    /// <summary>(G, C) float64: Σ_r (values[g, r, c] − weight[items[g], r, c])², in fp32 over spans of rows, the spans added in fp64.</summary>
    /// <param name="values">(G, R, C) fp32 contiguous.</param>
    /// <param name="weight">(E, R, C) fp32 contiguous.</param>
    /// <param name="items">(G) int64 contiguous: the weight matrix of each values matrix.</param>
    public static Tensor ColumnSquareDifferences(Tensor values, Tensor weight, Tensor items)
    {
        var (count, rows, columns) = ((int)values.shape[0], (int)values.shape[1], (int)values.shape[2]);
        var spans = (rows + RowSpan - 1) / RowSpan;
        using var partial = zeros(count, spans, columns, ScalarType.Float32, values.device);
        if (partial.numel() > 0)
        {
            CudaModuleCache.Get(values.device.index, "GptqBatchOperands", "column_square_differences").Launch(
                (Blocks(columns), (uint)spans, (uint)count), (Threads, 1u, 1u), 0,
                KernelArgument.Of(values), KernelArgument.Of(weight), KernelArgument.Of(items), KernelArgument.Of(partial), rows, columns, RowSpan);
        }

        return partial.sum(1, type: ScalarType.Float64);
    }

    /// <summary>
    /// The fused loop's factor V = −R·diag(R)⁻¹ by columns, in place, zeros below the diagonal (torch's division, element
    /// for element); returns (E) bool: whether any entry of each matrix is not finite.
    /// </summary>
    /// <param name="r">(E, n, n) fp32 contiguous: R upper; what is below its diagonal is ignored.</param>
    /// <param name="diagonal">(E, n) fp32 contiguous: a copy of R's diagonal.</param>
    public static Tensor NormalizeColumns(Tensor r, Tensor diagonal)
    {
        var (count, n) = ((int)r.shape[0], (int)r.shape[1]);
        var nonFinite = zeros(count, ScalarType.Bool, r.device);
        if (r.numel() > 0)
        {
            CudaModuleCache.Get(r.device.index, "GptqBatchOperands", "normalize_columns").Launch(
                (Blocks(n), (uint)n, (uint)count), (Threads, 1u, 1u), 0,
                KernelArgument.Of(r), KernelArgument.Of(diagonal), KernelArgument.Of(nonFinite), n);
        }

        return nonFinite;
    }

    /// <summary>Writes each (R, C) matrix of <paramref name="source"/> transposed into <paramref name="target"/>, and into <paramref name="second"/> when given.</summary>
    /// <param name="source">(E, R, C) fp32 contiguous.</param>
    /// <param name="target">(E, C, R) fp32 contiguous.</param>
    /// <param name="second">(E, C, R) fp32 contiguous, or null.</param>
    public static void Transpose(Tensor source, Tensor target, Tensor? second)
    {
        var (count, rows, columns) = ((int)source.shape[0], (int)source.shape[1], (int)source.shape[2]);
        if (source.numel() == 0)
        {
            return;
        }

        CudaModuleCache.Get(source.device.index, "GptqBatchOperands", "transpose_rows").Launch(
            ((uint)((columns + 31) / 32), (uint)((rows + 31) / 32), (uint)count), (32u, 8u, 1u), 0,
            KernelArgument.Of(source), KernelArgument.Of(target), second is null ? IntPtr.Zero : DevicePointer.Of(second), rows, columns);
    }

    private static uint Blocks(int columns) => (uint)((columns + Threads - 1) / Threads);
}
