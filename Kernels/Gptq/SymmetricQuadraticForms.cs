using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>
/// <c>a·H·aᵀ</c> for every row a of a batch of matrices A and symmetric H, from H's lower block triangle only: with H
/// cut into column blocks of width b and its diagonal blocks halved (H'),
/// <c>a·H·aᵀ = 2·Σ_j (a[c_j:]·H'[c_j:, j]) · a[j]</c>, since each off-diagonal pair H_ij, H_ji = H_ijᵀ contributes
/// twice the same sum. For C columns in blocks of 512 that is (C/512 + 1)/(2·C/512) of the full product's FLOPs: 0.54 at
/// C = 7168, where <c>(A·H)∘A</c> summed over columns does all of them. Halving is exact in any binary format.
/// </summary>
internal static class SymmetricQuadraticForms
{
    /// <summary>Column block width: a multiple of the GEMM tiles, and the depth step of the triangle.</summary>
    public const int DefaultBlock = 512;

    /// <summary>Halves the diagonal blocks of every H in place, once per H, before <see cref="RowSums"/>.</summary>
    /// <param name="h">(E, C, C) symmetric.</param>
    /// <param name="block">Column block width.</param>
    public static void HalveDiagonalBlocks(Tensor h, int block = DefaultBlock)
    {
        var columns = (int)h.shape[1];
        for (var first = 0; first < columns; first += block)
        {
            var width = Math.Min(block, columns - first);
            using var diagonal = h.narrow(1, first, width).narrow(2, first, width);
            diagonal.mul_(0.5);
        }
    }

    /// <summary>(E, M) float32: a·H·aᵀ for every row a of A, products in A's dtype with fp32 sums.</summary>
    /// <param name="a">(E, M, C).</param>
    /// <param name="halved">(E, C, C): H after <see cref="HalveDiagonalBlocks"/> with the same block; only its lower block triangle is read.</param>
    /// <param name="block">Column block width.</param>
    public static Tensor RowSums(Tensor a, Tensor halved, int block = DefaultBlock)
    {
        using var scope = NewDisposeScope();
        var columns = (int)a.shape[2];
        var sums = zeros(a.shape[0], a.shape[1], ScalarType.Float32, a.device);
        for (var first = 0; first < columns; first += block)
        {
            var width = Math.Min(block, columns - first);
            using var inner = NewDisposeScope();
            // Column block j of A·H' over the rows of H' from the block's own first row down: the lower block triangle.
            var product = a.narrow(2, first, columns - first).bmm(halved.narrow(1, first, columns - first).narrow(2, first, width));
            sums.add_(product.mul_(a.narrow(2, first, width)).sum(2, type: ScalarType.Float32));
        }

        return sums.mul_(2).MoveToOuterDisposeScope();
    }
}
