using MoeQuant.Kernels.LinearAlgebra;
using MoeQuant.Kernels.Cuda;

namespace MoeQuant.Kernels.Gptq;

/// <summary>
/// Device memory a batched GPTQ call needs, estimated from shapes, and the chunk size that keeps a batch within a budget
/// (<see cref="GptqBatchSettings.WorkspaceBytes"/>). The estimate follows what <see cref="GptqBatch"/> keeps alive, per
/// item of C columns and T weight positions with R_t rows (ΣR = Σ_t R_t, R = max R_t, G groups per row), in bytes:
/// <list type="bullet">
/// <item>factorization phase: <c>4C²·(N + k) + k·W</c> for N items factorized k at a time — every item's factor (Û or V), the
/// chunk's stacked and permuted Hessians (factored in place), and the factorization's temporaries W per matrix, the larger
/// of the Cholesky's panels (<see cref="ReverseCholesky.WorkspaceBytesPerMatrix"/>) and the inverse's bands
/// (<see cref="UpperTriangularInverse.WorkspaceBytesPerMatrix"/>, about 6C²; only Û needs the inverse, so for the fused
/// loop's V this over-counts, on the safe side);</item>
/// <item>column-loop phase, per item: <c>4C² + 22·ΣR·C + 4·R·C + 16·ΣR·G + 32·C + 16·S·ΣR + 12·S·C</c> — the factor; per position the fp32 weight,
/// uint8 RTN codes and fp32 RTN values (9 bytes a weight), the loop's Wᵀ in processing order, its tied-position join,
/// the copy of it the fused loop feeds errors against, and uint8 codes (13 more); the loop's span of errors and its lazy-update bands (<c>16·S·ΣR + 12·S·C</c>, S the span);
/// scales, zero points and their transposes; masks and indices;</item>
/// <item>per call: <c>68·R·C + 8·C²</c> — one matrix's proxy-loss product at a time ([W; Q−W; RTN−W] stacked, its
/// 3xTF32 split and product, H's split);</item>
/// <item>results, kept after the call: <c>3·ΣR·C + 4·ΣR·G + 4·T·C</c> per item (int8 codes, bf16 dequantized weights,
/// scales, zero points, g_idx).</item>
/// </list>
/// A batch needs the larger phase plus the per-call term plus its results. Items that take round to nearest need less;
/// the estimate counts every item as GPTQ. libtorch's allocator rounds and caches blocks, so leave headroom
/// (<see cref="BudgetFromFreeMemory"/> takes a share of the free memory).
/// </summary>
public static class GptqBatchWorkspace
{
    /// <summary>Estimated peak device bytes of one call with <paramref name="items"/> items, their results included.</summary>
    /// <param name="items">Items in the call.</param>
    /// <param name="rows">Row count of each weight position (one entry for an untied item, two for gate+up).</param>
    /// <param name="columns">Input columns C.</param>
    /// <param name="groupSize">Columns per group, or -1 for one group per row.</param>
    /// <param name="factorChunkElements">Stacked Hessian elements per factorization launch (<see cref="GptqBatch"/>'s default unless a test changed it).</param>
    public static long EstimateBytes(int items, IReadOnlyList<long> rows, int columns, int groupSize, long factorChunkElements = GptqBatch.FactorChunkElements) =>
        Workspace(items, rows, columns, groupSize, factorChunkElements) + (items * ResultBytesPerItem(rows, columns, groupSize));

    /// <summary>
    /// Items per chunk for a batch of <paramref name="items"/> within <paramref name="budgetBytes"/>: the fewest equal
    /// chunks (32 items as 11 + 11 + 10, not 12 + 12 + 8) whose workspace fits beside the results of the whole batch
    /// (earlier chunks' results stay on the device); 1 when nothing fits. The workspace is not monotonic in the item
    /// count (the factorization's own chunking changes), so every chunk count is tried.
    /// </summary>
    /// <param name="items">Items in the batch.</param>
    /// <param name="rows">Row count of each weight position.</param>
    /// <param name="columns">Input columns C.</param>
    /// <param name="groupSize">Columns per group, or -1 for one group per row.</param>
    /// <param name="budgetBytes">Device bytes the call may take.</param>
    /// <param name="factorChunkElements">Stacked Hessian elements per factorization launch.</param>
    public static int ItemsPerChunk(int items, IReadOnlyList<long> rows, int columns, int groupSize, long budgetBytes, long factorChunkElements = GptqBatch.FactorChunkElements)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(items, 1);
        var room = budgetBytes - (items * ResultBytesPerItem(rows, columns, groupSize));
        for (var launches = 1; launches <= items; launches++)
        {
            var chunk = (items + launches - 1) / launches;
            if (Workspace(chunk, rows, columns, groupSize, factorChunkElements) <= room)
            {
                return chunk;
            }
        }

        return 1;
    }

    /// <summary>
    /// A budget for <see cref="GptqBatchSettings.WorkspaceBytes"/>: <paramref name="share"/> of the device's free memory
    /// now. Measure it once, before the first batch: blocks libtorch's allocator caches after a batch count as used, so a
    /// later measurement understates the room and gives smaller chunks than needed (never larger).
    /// </summary>
    /// <param name="device">CUDA device ordinal.</param>
    /// <param name="share">Fraction of the free memory, for allocator rounding and fragmentation.</param>
    public static long BudgetFromFreeMemory(int device, double share = 0.85)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(share);
        return (long)(CudaMemory.Of(device).FreeBytes * share);
    }

    private static long Workspace(int items, IReadOnlyList<long> rows, int columns, int groupSize, long factorChunkElements)
    {
        var c = (long)columns;
        var square = 4 * c * c;
        var sumRows = rows.Sum();
        var maxRows = rows.Max();
        var groups = groupSize < 0 ? 1 : c / groupSize;
        var factorChunk = FactorChunk(items, columns, factorChunkElements);
        var factorPhase = (square * (items + factorChunk)) + (factorChunk * Math.Max(ReverseCholesky.WorkspaceBytesPerMatrix(columns, cuda: true), UpperTriangularInverse.WorkspaceBytesPerMatrix(columns, cuda: true)));
        // The loop's error buffer of one span (S × rows) and the lazy update's 3xTF32 bands of a whole span: errors
        // (3·S × rows) and factor rows (3·S × C), fp32.
        var span = (long)FusedGptqLoop.DefaultSpan;
        var bands = (3 * span * 4 * (sumRows + c)) + (4 * span * sumRows);
        var loopPerItem = square + (22 * sumRows * c) + (4 * maxRows * c) + (16 * sumRows * groups) + (32 * c) + bands;
        var perCall = (68 * maxRows * c) + (2 * square);
        return Math.Max(factorPhase, items * loopPerItem) + perCall;
    }

    /// <summary>Bytes of one item's results (int8 codes, bf16 dequantized weights, scales, zero points, g_idx), which stay on the device after the call.</summary>
    /// <param name="rows">Row count of each weight position.</param>
    /// <param name="columns">Input columns C.</param>
    /// <param name="groupSize">Columns per group, or -1 for one group per row.</param>
    public static long ResultBytesPerItem(IReadOnlyList<long> rows, int columns, int groupSize)
    {
        var groups = groupSize < 0 ? 1 : columns / groupSize;
        return rows.Sum(r => (3 * r * columns) + (4 * r * groups) + (4L * columns));
    }

    // The same equal chunks GptqBatch's factorization uses.
    internal static int FactorChunk(int items, int columns, long chunkElements)
    {
        var most = (int)Math.Clamp(chunkElements / ((long)columns * columns), 1, items);
        var launches = (items + most - 1) / most;
        return (items + launches - 1) / launches;
    }
}
