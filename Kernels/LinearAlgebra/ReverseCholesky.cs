using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Gptq;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.LinearAlgebra;

/// <summary>
/// <c>H = R·Rᵀ</c> with R upper triangular, for a batch of symmetric positive definite matrices, in place: GPTQ's
/// <c>U = R⁻¹</c> (<c>H⁻¹ = UᵀU</c>) follows from <see cref="UpperTriangularInverse"/>. With it the batched path issues
/// about n³ in products where <see cref="InverseCholesky"/> issues 4/3·n³ and recursive <c>cat</c> copies; and in
/// place, with temporaries of a few panels, so a whole batch of 32 experts factors in one pass instead of chunks of 8.
/// <para>
/// Blocked and right-looking from the bottom-right corner upward, which is the lower Cholesky of <c>J·H·J</c> (J the
/// reversal) without materialising the flip. Per panel of columns [s, e): the diagonal block is factored by batched
/// <c>cholesky_ex</c> (flipped, P×P) and inverted by <c>solve_triangular</c>; the panel above it becomes
/// <c>R12 = A12·R22⁻ᵀ</c> in place; the trailing block <c>A[0:s, 0:s] −= R12·R12ᵀ</c> is accumulated in place. Only the upper
/// triangle is ever read, so the trailing update covers it in column slabs (<see cref="Slabs"/>) and skips most of the
/// lower one: about half the full square's products (<see cref="TrailingFlops"/>). On CUDA every product is 3xTF32
/// (<see cref="TrailingUpdate"/>); elsewhere plain torch products with the same panels and slabs.
/// </para>
/// </summary>
public static class ReverseCholesky
{
    /// <summary>Default panel width P: the diagonal blocks factored directly (batched LAPACK/cuSOLVER).</summary>
    public const int PanelWidth = 256;

    /// <summary>Default slab width of the trailing update, in panels.</summary>
    public const int SlabPanels = 2;

    /// <summary>
    /// Factors every matrix in place as <c>H = R·Rᵀ</c>, R upper, without a host synchronization. Only the upper triangle
    /// of the input is read. A failed matrix holds garbage (NaN/Inf possible) but leaves the others untouched.
    /// </summary>
    /// <param name="hessians">(E, n, n) fp32 or fp64 contiguous, any device: overwritten by R, zero below the diagonal.</param>
    /// <param name="panel">Panel width P (≥ 1).</param>
    /// <param name="slabPanels">Columns per slab of the trailing update, in panels (≥ 1).</param>
    /// <param name="invertDiagonalBlocks">Leave each P×P diagonal block as its inverse (see the overload with stages).</param>
    /// <returns>(E) bool on the same device: true where a leading minor was not positive.</returns>
    public static Tensor FactorInPlace(Tensor hessians, int panel = PanelWidth, int slabPanels = SlabPanels, bool invertDiagonalBlocks = false) =>
        FactorInPlace(hessians, stage: null, panel, slabPanels, invertDiagonalBlocks);

    /// <summary>
    /// <see cref="FactorInPlace(Tensor, int, int, bool)"/>, announcing its stages (leaves, products, assembly) to
    /// <paramref name="stage"/>; with <paramref name="invertDiagonalBlocks"/> each P×P diagonal block is left as R22⁻¹,
    /// which the panel step computes anyway, for <see cref="UpperTriangularInverse"/>'s <c>leavesInverted</c>.
    /// </summary>
    internal static Tensor FactorInPlace(Tensor hessians, Action<GptqStage>? stage, int panel = PanelWidth, int slabPanels = SlabPanels, bool invertDiagonalBlocks = false)
    {
        ArgumentNullException.ThrowIfNull(hessians);
        ArgumentOutOfRangeException.ThrowIfLessThan(panel, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(slabPanels, 1);
        if (hessians.dim() != 3 || hessians.shape[1] != hessians.shape[2] || !hessians.is_contiguous()
            || (hessians.dtype != ScalarType.Float32 && hessians.dtype != ScalarType.Float64))
        {
            throw new ArgumentException($"expected (E, n, n) fp32/fp64 contiguous, got {hessians.dtype}[{string.Join(",", hessians.shape)}]", nameof(hessians));
        }

        var n = (int)hessians.shape[1];
        var failed = zeros(hessians.shape[0], dtype: ScalarType.Bool, device: hessians.device);
        var tensorCores = hessians.device_type == DeviceType.CUDA && hessians.dtype == ScalarType.Float32;
        foreach (var (start, end) in Panels(n, panel))
        {
            using var step = NewDisposeScope();
            var width = end - start;
            var diagonal = hessians.narrow(1, start, width).narrow(2, start, width);

            // 1) R22 = J·chol(J·A22·J)·J: the flipped block's lower triangle is A22's upper one, the triangle kept up to date.
            stage?.Invoke(GptqStage.FactorLeaf);
            var (lower, info) = linalg.cholesky_ex(diagonal.flip(1, 2));
            failed.logical_or_(info.ne(0));
            var identity = eye(width, dtype: hessians.dtype, device: hessians.device).expand_as(lower);
            var lowerInverse = linalg.solve_triangular(lower, identity, upper: false);
            stage?.Invoke(GptqStage.FactorAssembly);
            diagonal.copy_((invertDiagonalBlocks ? lowerInverse : lower).flip(1, 2)); // upper, zeros below: R22 (or R22⁻¹) in place
            if (start == 0)
            {
                continue;
            }

            // 2) R12 = A12·R22⁻ᵀ with R22⁻¹ = J·L⁻¹·J, over A12; its own scope frees the product's split operands before
            //    the trailing update's bands exist.
            stage?.Invoke(GptqStage.FactorProduct);
            var above = hessians.narrow(1, 0, start).narrow(2, start, width);
            using (NewDisposeScope())
            {
                var r12 = Fp32Bmm.Multiply(above, lowerInverse.flip(1, 2).transpose(1, 2));
                stage?.Invoke(GptqStage.FactorAssembly);
                above.copy_(r12);
            }

            // 3) A[0:s, 0:s] −= R12·R12ᵀ on the upper triangle, slab by slab, accumulated in place.
            stage?.Invoke(GptqStage.FactorProduct);
            var slabs = Slabs(start, panel * slabPanels);
            if (tensorCores)
            {
                TrailingUpdate.Subtract(hessians, start, width, slabs);
            }
            else
            {
                SubtractWithTorch(hessians, start, width, slabs);
            }
        }

        // 4) the lower triangle still holds H and the slabs' spill-over below their diagonal blocks.
        stage?.Invoke(GptqStage.FactorAssembly);
        hessians.triu_();
        return failed;
    }

    // The trailing update off tensor cores (CPU, fp64), same slabs as TrailingUpdate: TorchSharp has no in-place baddbmm_, and addmm_
    // per matrix accumulates into the slab without a temporary of its size.
    private static void SubtractWithTorch(Tensor a, int start, int width, IReadOnlyList<(int First, int Last)> slabs)
    {
        for (var e = 0; e < a.shape[0]; e++)
        {
            using var matrix = a[e];
            using var panel = matrix.narrow(0, 0, start).narrow(1, start, width);
            foreach (var (first, last) in slabs)
            {
                using var slab = matrix.narrow(0, 0, last).narrow(1, first, last - first);
                using var left = panel.narrow(0, 0, last);
                using var right = panel.narrow(0, first, last - first).t();
                slab.addmm_(left, right, beta: 1, alpha: -1);
            }
        }
    }

    /// <summary>
    /// Panels [start, end) in processing order, bottom-right first. Boundaries are multiples of P counted from the top-left,
    /// so every trailing block and slab starts aligned for the GEMM tiles; the narrow remainder, if any, comes first.
    /// </summary>
    internal static IEnumerable<(int Start, int End)> Panels(int n, int panel)
    {
        for (var start = (n - 1) / panel * panel; start >= 0; start -= panel)
        {
            yield return (start, Math.Min(start + panel, n));
        }
    }

    /// <summary>
    /// Column slabs [first, last) of a trailing block of <paramref name="trailing"/> columns. Slab [f, l) updates rows
    /// [0, l) only: the upper triangle of its columns plus the lower triangle of its own diagonal block.
    /// </summary>
    internal static IReadOnlyList<(int First, int Last)> Slabs(int trailing, int slab)
    {
        var slabs = new List<(int, int)>();
        for (var first = 0; first < trailing; first += slab)
        {
            slabs.Add((first, Math.Min(first + slab, trailing)));
        }

        return slabs;
    }

    /// <summary>
    /// Multiply-add FLOPs (2 per term) of the trailing updates as issued, walking the same panels and slabs as the
    /// factorization, and those of a full-square update (<c>A[0:s, 0:s] −= Xᵀ·X</c> whole). 3xTF32 issues each three
    /// times on tensor cores. For n = 7168, P = 256, slabs of 2 panels: 1.048·n³/3 issued, 0.554 of the full square
    /// (1.894·n³/3), 1.107 of the exact upper triangles.
    /// </summary>
    internal static (double Issued, double FullSquare) TrailingFlops(int n, int panel = PanelWidth, int slabPanels = SlabPanels)
    {
        var (issued, full) = (0.0, 0.0);
        foreach (var (start, end) in Panels(n, panel))
        {
            var width = end - start;
            full += 2.0 * width * start * start;
            issued += Slabs(start, panel * slabPanels).Sum(s => 2.0 * width * s.Last * (s.Last - s.First));
        }

        return (issued, full);
    }

    /// <summary>
    /// Peak bytes of temporaries per matrix (the factor itself is the input): on CUDA 4·(7·P·n + 6·P²) — the panel
    /// product (P·n) and its 3xTF32 operands, or the trailing update's two band copies of the panel (6·P·n), and the
    /// diagonal block's flip, factor, inverse and reversed inverse; elsewhere 4·(P·n + 6·P²). Doubled for fp64.
    /// </summary>
    public static long WorkspaceBytesPerMatrix(int n, bool cuda, int panel = PanelWidth)
    {
        var p = (long)Math.Min(panel, n);
        return 4L * (((cuda ? 7 : 1) * p * n) + (6 * p * p));
    }
}
