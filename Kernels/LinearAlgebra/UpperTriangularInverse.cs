using MoeQuant.Kernels.Gptq;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.LinearAlgebra;

/// <summary>
/// The inverse of a batch of upper triangular matrices, in place: with <see cref="ReverseCholesky"/>'s R (H = R·Rᵀ) it
/// gives GPTQ's U = R⁻¹ (H⁻¹ = UᵀU) for n³/3 more products, so the whole factor costs about 2/3·n³ where
/// <see cref="InverseCholesky"/> issues 4/3·n³, and needs no temporaries of the matrices' size.
/// <para>
/// Blocked, left to right (LAPACK trtri's order): when panel [s, e) comes up, the top-left s × s block already holds its
/// inverse X11, and the panel above the diagonal becomes <c>X12 = −X11·R12·R22⁻¹</c>. X11 is upper triangular, so the
/// product runs in row slabs that skip its zero columns (half the square's products); slab [a, b) reads rows [a, s) of
/// R12, none of which an earlier slab has overwritten. Products are fp32-accurate (<see cref="Fp32Bmm"/>: 3xTF32 on CUDA).
/// </para>
/// </summary>
public static class UpperTriangularInverse
{
    /// <summary>Default panel width: the diagonal blocks inverted directly (batched triangular solves).</summary>
    public const int PanelWidth = 256;

    /// <summary>Default rows per slab of the panel product.</summary>
    public const int SlabRows = 512;

    /// <summary>Replaces every matrix by its inverse, without a host synchronization.</summary>
    /// <param name="upper">(E, n, n) fp32 or fp64, upper triangular with zeros below and a nonzero diagonal.</param>
    /// <param name="stage">Stage announcements (<see cref="GptqBatchSettings.Stages"/>); null: none.</param>
    /// <param name="panel">Panel width (≥ 1).</param>
    /// <param name="slabRows">Rows per slab of the panel product (≥ 1).</param>
    public static void InvertInPlace(Tensor upper, Action<GptqStage>? stage = null, int panel = PanelWidth, int slabRows = SlabRows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(panel, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(slabRows, 1);
        var n = (int)upper.shape[1];
        for (var start = 0; start < n; start += panel)
        {
            using var step = NewDisposeScope();
            var width = Math.Min(panel, n - start);
            var diagonal = upper.narrow(1, start, width).narrow(2, start, width);
            stage?.Invoke(GptqStage.FactorLeaf);
            var identity = eye(width, dtype: upper.dtype, device: upper.device).expand_as(diagonal);
            var inverse = linalg.solve_triangular(diagonal, identity, upper: true);
            if (start > 0)
            {
                // X12 = −(X11·R12)·R22⁻¹, slab by slab from the top.
                stage?.Invoke(GptqStage.FactorProduct);
                var above = upper.narrow(1, 0, start).narrow(2, start, width);
                for (var first = 0; first < start; first += slabRows)
                {
                    using var slab = NewDisposeScope();
                    var rows = Math.Min(slabRows, start - first);
                    var product = Fp32Bmm.Multiply(upper.narrow(1, first, rows).narrow(2, first, start - first), above.narrow(1, first, start - first));
                    above.narrow(1, first, rows).copy_(product);
                }

                using (NewDisposeScope())
                {
                    above.copy_(Fp32Bmm.Multiply(above, inverse).neg_());
                }
            }

            stage?.Invoke(GptqStage.FactorAssembly);
            diagonal.copy_(inverse);
        }
    }
}
