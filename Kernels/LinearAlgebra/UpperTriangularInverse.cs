using MoeQuant.Kernels.Gptq;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.LinearAlgebra;

/// <summary>
/// The inverse of a batch of upper triangular matrices, in place: with <see cref="ReverseCholesky"/>'s R (H = R·Rᵀ) it
/// gives GPTQ's U = R⁻¹ (H⁻¹ = UᵀU) for 2/3·n³ more products, so the whole factor issues about n³ where
/// <see cref="InverseCholesky"/> issues 4/3·n³, and needs no temporaries of the matrices' size.
/// <para>
/// Recursive 2×2 blocking: <c>[[R11, R12], [0, R22]]⁻¹ = [[X11, −X11·R12·X22], [0, X22]]</c>, both halves inverted first,
/// then two square products of half the size for the whole batch at once. A left-to-right panel sweep needs the same
/// products in half the FLOPs but as thin (P-wide) GEMMs that fill a fraction of the GPU: measured three times slower.
/// Products are fp32-accurate (<see cref="Fp32Bmm"/>: 3xTF32 on CUDA).
/// </para>
/// </summary>
public static class UpperTriangularInverse
{
    /// <summary>Default leaf width: diagonal blocks at most this wide are inverted directly (batched triangular solves).</summary>
    public const int LeafSize = 256;

    /// <summary>Replaces every matrix by its inverse, without a host synchronization.</summary>
    /// <param name="upper">(E, n, n) fp32 or fp64, upper triangular with zeros below and a nonzero diagonal.</param>
    /// <param name="stage">Stage announcements (<see cref="GptqBatchSettings.Stages"/>); null: none.</param>
    /// <param name="leafSize">Blocks at most this wide are inverted directly (≥ 1).</param>
    public static void InvertInPlace(Tensor upper, Action<GptqStage>? stage = null, int leafSize = LeafSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(leafSize, 1);
        Invert(upper, stage, leafSize);
    }

    // upper: an (E, n, n) view, inverted in place.
    private static void Invert(Tensor upper, Action<GptqStage>? stage, int leafSize)
    {
        using var scope = NewDisposeScope();
        var n = (int)upper.shape[1];
        if (n <= leafSize)
        {
            stage?.Invoke(GptqStage.FactorLeaf);
            var identity = eye(n, dtype: upper.dtype, device: upper.device).expand_as(upper);
            var inverse = linalg.solve_triangular(upper, identity, upper: true);
            stage?.Invoke(GptqStage.FactorAssembly);
            upper.copy_(inverse);
            return;
        }

        var half = n / 2 / 64 * 64 is > 0 and var aligned ? aligned : n / 2; // multiples of 64 keep the GEMM tiles aligned
        var rest = n - half;
        Invert(upper.narrow(1, 0, half).narrow(2, 0, half), stage, leafSize);
        Invert(upper.narrow(1, half, rest).narrow(2, half, rest), stage, leafSize);
        stage?.Invoke(GptqStage.FactorProduct);
        var above = upper.narrow(1, 0, half).narrow(2, half, rest);
        var left = Fp32Bmm.Multiply(upper.narrow(1, 0, half).narrow(2, 0, half), above);
        var product = Fp32Bmm.Multiply(left, upper.narrow(1, half, rest).narrow(2, half, rest)).neg_();
        stage?.Invoke(GptqStage.FactorAssembly);
        above.copy_(product);
    }
}
