using MoeQuant.Kernels.Gptq;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.LinearAlgebra;

/// <summary>
/// GPTQ's U (<c>H⁻¹ = UᵀU</c>) for a batch, in place: <see cref="ReverseCholesky"/> (<c>H = R·Rᵀ</c>, its P×P diagonal
/// blocks left inverted), then <see cref="UpperTriangularInverse"/> with those blocks as its leaves, <c>U = R⁻¹</c>. The
/// two steps' leaves must be equal; this is the one place that pairs them.
/// </summary>
public static class InPlaceFactorOfInverse
{
    /// <summary>
    /// Default panel width, also the leaves' (of the Cholesky and the inverse): this path serves one matrix at a time
    /// (the single path, and the batch off the fused loop), where the leaves are cuSOLVER's, and 256 with slabs of 2 panels
    /// was the fastest of 128, 256 and 512 with them (`16-batched-outputs-panel-variants`). With the batched path's panels
    /// of 512 over leaves of 128 instead, the single path took 50.3 ms for a 2048×7168 matrix against 39.2, and U was
    /// 1.78 × 10⁻⁵ from fp64 at C = 7168 against 1.69 × 10⁻⁵ (H100, `gptq-vs-moe-quant-h100.jsonl`, `gptq-batch-h100.jsonl`).
    /// </summary>
    public const int PanelWidth = 256;

    /// <summary>Default slab width of the Cholesky's trailing updates, in panels.</summary>
    public const int SlabPanels = 2;

    /// <summary>Replaces every H by U, without a host synchronization; a failed matrix holds garbage and is flagged.</summary>
    /// <param name="hessians">(E, n, n) fp32 or fp64 contiguous, any device; only the upper triangle is read.</param>
    /// <param name="stage">Stage announcements (<see cref="GptqBatchSettings.Stages"/>); null: none.</param>
    /// <param name="panel">The Cholesky's panel width (≥ 1).</param>
    /// <param name="slabPanels">Columns per slab of the Cholesky's trailing update, in panels (≥ 1).</param>
    /// <param name="triangleBlocks">Blocks per product with a triangular operand in the inverse on CUDA (≥ 1).</param>
    /// <param name="recursionFloor">The Cholesky's recursion floor: wider blocks split in halves (≥ 1).</param>
    /// <param name="leaf">The Cholesky's leaf width, the inverse's leaf; null: the panel.</param>
    /// <returns>(E) bool on the same device: true where a leading minor was not positive.</returns>
    public static Tensor Compute(
        Tensor hessians,
        Action<GptqStage>? stage = null,
        int panel = PanelWidth,
        int slabPanels = SlabPanels,
        int triangleBlocks = UpperTriangularInverse.TriangleBlocks,
        int recursionFloor = ReverseCholesky.RecursionFloor,
        int? leaf = null)
    {
        var leafWidth = leaf ?? panel;
        var failed = ReverseCholesky.FactorInPlace(hessians, stage, panel, slabPanels, invertDiagonalBlocks: true, recursionFloor, leafWidth);
        UpperTriangularInverse.InvertInPlace(hessians, stage, leafWidth, leavesInverted: true, triangleBlocks);
        return failed;
    }
}
