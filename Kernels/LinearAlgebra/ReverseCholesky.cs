using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Gptq;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.LinearAlgebra;

/// <summary>
/// <c>H = R·Rᵀ</c> with R upper triangular, for a batch of symmetric positive definite matrices, in place: GPTQ's
/// <c>U = R⁻¹</c> (<c>H⁻¹ = UᵀU</c>) follows from <see cref="UpperTriangularInverse"/>. With it the batched path issues
/// about n³ in products where <see cref="InverseCholesky"/> issues 4/3·n³ and recursive <c>cat</c> copies; and in
/// place, so a whole batch of 32 experts factors in one pass instead of chunks of 8.
/// <para>
/// From the bottom-right corner upward (<see cref="ReverseCholeskySweep"/>). Blocks wider than the recursion floor split
/// in halves, so that the trailing updates and triangular solves are a few deep products (depth up to n/2); narrower
/// blocks, by default all, peel one panel of P columns at a time (right-looking, depth P), and a panel splits in halves
/// down to its L×L diagonal blocks, the leaves. The leaves are factored and inverted in shared memory by one kernel per
/// batch on CUDA (<see cref="ReverseCholeskyLeaf"/>, from its <see cref="ReverseCholeskyLeaf.MinBatch"/> matrices up),
/// otherwise by batched <c>cholesky_ex</c> and <c>solve_triangular</c>; the solves multiply by those inverses. Only the upper triangle is ever read, so each
/// trailing update covers it in column slabs and skips most of the lower one (<see cref="TrailingFlops"/>). On CUDA
/// every product is 3xTF32 (<see cref="RowProducts"/>); elsewhere plain torch products of the same blocks.
/// </para>
/// </summary>
public static class ReverseCholesky
{
    /// <summary>
    /// Default panel width P, the depth of the trailing updates: each reads and writes the trailing block once, so wide
    /// panels move less memory, while their leaves stay small.
    /// </summary>
    public const int PanelWidth = 512;

    /// <summary>Default leaf width L: the diagonal blocks factored directly (the leaf kernel's cost grows as L³).</summary>
    public const int LeafWidth = 128;

    /// <summary>Default slab width of the trailing updates, in panels.</summary>
    public const int SlabPanels = 1;

    /// <summary>
    /// Default recursion floor: blocks wider than this split in halves, narrower ones peel panels. The default never
    /// splits: on an H100 halves above 1024 factored C = 7168 3.6% faster but 2.7 times further from fp64 (4.6 × 10⁻⁵
    /// against 1.7 × 10⁻⁵, `bench gptq` gptq-factor-panels), and GPTQ's codes follow every rounding of U.
    /// </summary>
    public const int RecursionFloor = int.MaxValue;

    /// <summary>
    /// Factors every matrix in place as <c>H = R·Rᵀ</c>, R upper, without a host synchronization. Only the upper triangle
    /// of the input is read. A failed matrix holds garbage (NaN/Inf possible) but leaves the others untouched.
    /// </summary>
    /// <param name="hessians">(E, n, n) fp32 or fp64 contiguous, any device: overwritten by R, zero below the diagonal.</param>
    /// <param name="panel">Panel width P (≥ 1).</param>
    /// <param name="slabPanels">Columns per slab of the trailing updates, in panels (≥ 1).</param>
    /// <param name="invertDiagonalBlocks">Leave each L×L diagonal block as its inverse (see the overload with stages).</param>
    /// <param name="recursionFloor">Blocks wider than this split in halves (≥ 1; n or more: one panel at a time throughout).</param>
    /// <param name="leaf">Leaf width L dividing P; null: <see cref="LeafOf"/>.</param>
    /// <returns>(E) bool on the same device: true where a leading minor was not positive.</returns>
    public static Tensor FactorInPlace(
        Tensor hessians, int panel = PanelWidth, int slabPanels = SlabPanels, bool invertDiagonalBlocks = false, int recursionFloor = RecursionFloor, int? leaf = null) =>
        FactorInPlace(hessians, stage: null, panel, slabPanels, invertDiagonalBlocks, recursionFloor, leaf);

    /// <summary>
    /// <see cref="FactorInPlace(Tensor, int, int, bool, int, int?)"/>, announcing its stages (leaves, products, assembly)
    /// to <paramref name="stage"/>; with <paramref name="invertDiagonalBlocks"/> each L×L diagonal block is left as its
    /// factor's inverse, which the solves need anyway, for <see cref="UpperTriangularInverse"/>'s <c>leavesInverted</c>.
    /// </summary>
    /// <param name="hessians">As the public overload.</param>
    /// <param name="stage">Stage announcements; null: none.</param>
    /// <param name="panel">As the public overload.</param>
    /// <param name="slabPanels">As the public overload.</param>
    /// <param name="invertDiagonalBlocks">As the public overload.</param>
    /// <param name="recursionFloor">As the public overload.</param>
    /// <param name="leaf">As the public overload.</param>
    /// <param name="clearLower">Zero below the diagonal; false leaves H and spill-over there for a caller whose next pass rewrites every entry.</param>
    internal static Tensor FactorInPlace(
        Tensor hessians, Action<GptqStage>? stage, int panel = PanelWidth, int slabPanels = SlabPanels, bool invertDiagonalBlocks = false,
        int recursionFloor = RecursionFloor, int? leaf = null, bool clearLower = true)
    {
        ArgumentNullException.ThrowIfNull(hessians);
        ArgumentOutOfRangeException.ThrowIfLessThan(panel, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(slabPanels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(recursionFloor, 1);
        var leafWidth = leaf ?? LeafOf(panel);
        if (leafWidth < 1 || panel % leafWidth != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(leaf), $"leaf {leafWidth} must divide the panel {panel}");
        }

        if (hessians.dim() != 3 || hessians.shape[1] != hessians.shape[2] || !hessians.is_contiguous()
            || (hessians.dtype != ScalarType.Float32 && hessians.dtype != ScalarType.Float64))
        {
            throw new ArgumentException($"expected (E, n, n) fp32/fp64 contiguous, got {hessians.dtype}[{string.Join(",", hessians.shape)}]", nameof(hessians));
        }

        var sweep = new ReverseCholeskySweep(hessians, stage, leafWidth, panel, panel * slabPanels, recursionFloor, keepLeaves: !invertDiagonalBlocks);
        sweep.Factor(0, (int)hessians.shape[1]);

        // The lower triangle still holds H and the slabs' spill-over below their diagonal blocks.
        stage?.Invoke(GptqStage.FactorAssembly);
        sweep.RestoreLeaves();
        if (clearLower)
        {
            hessians.triu_();
        }

        return sweep.Failed;
    }

    /// <summary>
    /// Diagonal blocks factored and inverted by batched <c>cholesky_ex</c> and <c>solve_triangular</c> (LAPACK, cuSOLVER):
    /// the leaves off <see cref="ReverseCholeskyLeaf"/>. Each block A = R·Rᵀ, of which only the upper triangle is read, is
    /// replaced by R⁻¹, upper with zeros below; R = J·chol(J·A·J)·J, the flipped block's lower triangle being A's upper.
    /// </summary>
    /// <param name="blocks">(E, w, w) fp32 or fp64, a view into larger matrices allowed.</param>
    /// <param name="failed">(E) bool, or-ed with whether a pivot was not positive.</param>
    /// <param name="stage">Stage announcements (the assembly after the factorization); null: none.</param>
    /// <returns>R (E, w, w), upper with zeros below, in the caller's dispose scope.</returns>
    public static Tensor FactorAndInvertLeaves(Tensor blocks, Tensor failed, Action<GptqStage>? stage = null)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        ArgumentNullException.ThrowIfNull(failed);
        var (lower, info) = linalg.cholesky_ex(blocks.flip(1, 2));
        failed.logical_or_(info.ne(0));
        var identity = eye(blocks.shape[1], dtype: blocks.dtype, device: blocks.device).expand_as(lower);
        var lowerInverse = linalg.solve_triangular(lower, identity, upper: false);
        stage?.Invoke(GptqStage.FactorAssembly);
        blocks.copy_(lowerInverse.flip(1, 2));
        return lower.flip(1, 2);
    }

    /// <summary>The default leaf of a panel: <see cref="LeafWidth"/> where it divides the panel, else the panel itself.</summary>
    public static int LeafOf(int panel) => panel % LeafWidth == 0 ? LeafWidth : panel;

    /// <summary>
    /// The width h of the top-left part when a block of <paramref name="m"/> &gt; L columns is split (the bottom-right part,
    /// m − h wide, is factored first): half the block (a multiple of P) above the floor; all but the last panel below it
    /// and above P; half a panel (a multiple of L) within one. Every diagonal block [k·L, (k + 1)·L) is then a leaf and every
    /// product starts aligned for the GEMM tiles; the narrow remainder of an n that L does not divide is the first leaf.
    /// </summary>
    internal static int Split(int m, int leaf, int panel, int floor) =>
        m > floor && m > panel ? Math.Max(panel, m / 2 / panel * panel)
        : m > panel ? (m - 1) / panel * panel
        : Math.Max(leaf, m / 2 / leaf * leaf);

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
    /// Multiply-add FLOPs (2 per term) of the trailing updates as issued, walking the same splits and slabs as the
    /// factorization, and those of the exact upper triangles they need. 3xTF32 issues each three times on tensor cores.
    /// </summary>
    internal static (double Issued, double Triangle) TrailingFlops(int n, int panel = PanelWidth, int slabPanels = SlabPanels, int recursionFloor = RecursionFloor, int? leaf = null)
    {
        var leafWidth = leaf ?? LeafOf(panel);
        if (n <= leafWidth)
        {
            return (0, 0);
        }

        var h = Split(n, leafWidth, panel, recursionFloor);
        var r = n - h;
        var issued = Slabs(h, panel * slabPanels).Sum(s => 2.0 * r * s.Last * (s.Last - s.First));
        var triangle = (double)r * h * (h + 1);
        var (topIssued, topTriangle) = TrailingFlops(h, panel, slabPanels, recursionFloor, leafWidth);
        var (bottomIssued, bottomTriangle) = TrailingFlops(r, panel, slabPanels, recursionFloor, leafWidth);
        return (issued + topIssued + bottomIssued, triangle + topTriangle + bottomTriangle);
    }

    /// <summary>
    /// Peak bytes of temporaries per matrix (the factor itself is the input). On CUDA the largest product's two band
    /// copies, 12·(p + q)·k for P (p × k) and Q (q × k): the top split's trailing update, 24·h·(n − h) (6·n² bytes for
    /// halves), and six L×L blocks (the leaf's temporaries off the leaf kernel, or its kept factor). Elsewhere the
    /// largest slab product. Doubled for fp64.
    /// </summary>
    public static long WorkspaceBytesPerMatrix(int n, bool cuda, int panel = PanelWidth, int slabPanels = SlabPanels, int recursionFloor = RecursionFloor, int? leaf = null)
    {
        var leafWidth = leaf ?? LeafOf(panel);
        var l = (long)Math.Min(leafWidth, n);
        var leafBytes = 4L * 6 * l * l;
        if (n <= leafWidth)
        {
            return leafBytes;
        }

        var h = (long)Split(n, leafWidth, panel, recursionFloor);
        var r = n - h;
        var products = cuda ? 24 * h * r : 4 * h * Math.Min(h, (long)panel * slabPanels);
        return leafBytes + products;
    }
}
