using MoeQuant.Kernels.Cuda;
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
/// Products are fp32-accurate: on CUDA 3xTF32 that skips the zero triangles (<see cref="TriangularProducts"/>), elsewhere
/// <see cref="Fp32Bmm"/>.
/// </para>
/// </summary>
public static class UpperTriangularInverse
{
    /// <summary>Default leaf width: diagonal blocks at most this wide are inverted directly (batched triangular solves).</summary>
    public const int LeafSize = 256;

    /// <summary>Default blocks each product with a triangular operand is cut into on CUDA (<see cref="TriangularProducts"/>): 5/8 of the square's products.</summary>
    public const int TriangleBlocks = 4;

    /// <summary>
    /// Peak bytes of temporaries per matrix, those of the top level's products: on CUDA their 3xTF32 bands,
    /// 12·(h² + h·r) for halves h and r (about 6·n²; the product is written in place); elsewhere the two products, 8·h·r.
    /// </summary>
    public static long WorkspaceBytesPerMatrix(int n, bool cuda, int leafSize = LeafSize)
    {
        if (n <= leafSize)
        {
            return 4L * n * n; // the leaf's solve
        }

        var half = (long)Half(n, leafSize, leavesInverted: false);
        var rest = n - half;
        return cuda ? TriangularProducts.BandBytes(half, half, rest) : 8 * half * rest;
    }

    /// <summary>Replaces every matrix by its inverse, without a host synchronization.</summary>
    /// <param name="upper">(E, n, n) fp32 or fp64, upper triangular with zeros below and a nonzero diagonal.</param>
    /// <param name="stage">Stage announcements (<see cref="GptqBatchSettings.Stages"/>); null: none.</param>
    /// <param name="leafSize">Blocks at most this wide are inverted directly (≥ 1).</param>
    /// <param name="leavesInverted">
    /// The diagonal blocks [k·leafSize, (k + 1)·leafSize) already hold their inverses, as
    /// <see cref="ReverseCholesky"/> leaves them with <c>invertDiagonalBlocks</c> and a panel of leafSize: the leaves'
    /// triangular solves are skipped, and every split falls on a multiple of leafSize so that the leaves are those blocks.
    /// </param>
    /// <param name="triangleBlocks">Blocks per product with a triangular operand on CUDA (≥ 1): more skip more of the zero triangle, in smaller products.</param>
    public static void InvertInPlace(Tensor upper, Action<GptqStage>? stage = null, int leafSize = LeafSize, bool leavesInverted = false, int triangleBlocks = TriangleBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(leafSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(triangleBlocks, 1);
        Invert(upper, stage, leafSize, leavesInverted, triangleBlocks);
    }

    // The first half's width: multiples of 64 keep the GEMM tiles aligned; multiples of the leaf keep inverted leaves whole.
    private static int Half(int n, int leafSize, bool leavesInverted) =>
        leavesInverted ? Math.Max(leafSize, n / 2 / leafSize * leafSize)
        : n / 2 / 64 * 64 is > 0 and var aligned ? aligned : n / 2;

    // upper: an (E, n, n) view, inverted in place.
    private static void Invert(Tensor upper, Action<GptqStage>? stage, int leafSize, bool leavesInverted, int triangleBlocks)
    {
        using var scope = NewDisposeScope();
        var n = (int)upper.shape[1];
        if (n <= leafSize)
        {
            if (leavesInverted)
            {
                return;
            }

            stage?.Invoke(GptqStage.FactorLeaf);
            var identity = eye(n, dtype: upper.dtype, device: upper.device).expand_as(upper);
            var inverse = linalg.solve_triangular(upper, identity, upper: true);
            stage?.Invoke(GptqStage.FactorAssembly);
            upper.copy_(inverse);
            return;
        }

        var half = Half(n, leafSize, leavesInverted);
        var rest = n - half;
        Invert(upper.narrow(1, 0, half).narrow(2, 0, half), stage, leafSize, leavesInverted, triangleBlocks);
        Invert(upper.narrow(1, half, rest).narrow(2, half, rest), stage, leafSize, leavesInverted, triangleBlocks);
        stage?.Invoke(GptqStage.InverseProduct);
        var above = upper.narrow(1, 0, half).narrow(2, half, rest);
        if (upper.device_type == DeviceType.CUDA && upper.dtype == ScalarType.Float32)
        {
            // In place, each product skipping the zero triangle: R12 ← X11·R12, then R12 ← −R12·X22.
            var (device, batch) = (upper.device.index, (int)upper.shape[0]);
            var (x11, r12, x22) = (Block(upper, 0, 0), Block(upper, 0, half), Block(upper, half, half));
            TriangularProducts.UpperTimesFull(device, batch, half, rest, x11, r12, r12, triangleBlocks);
            TriangularProducts.FullTimesUpper(device, batch, half, rest, r12, x22, r12, -1f, triangleBlocks);
            return;
        }

        var left = Fp32Bmm.Multiply(upper.narrow(1, 0, half).narrow(2, 0, half), above);
        var product = Fp32Bmm.Multiply(left, upper.narrow(1, half, rest).narrow(2, half, rest)).neg_();
        stage?.Invoke(GptqStage.FactorAssembly);
        above.copy_(product);
    }

    // A block of a view into a contiguous (E, N, N) tensor: narrow keeps the base's strides and moves the offset.
    private static TriangularProducts.Block Block(Tensor view, int row, int column) => new(
        DevicePointer.Offset(DevicePointer.OfStrided(view), (row * view.stride(1)) + column), (int)view.stride(1), view.stride(0));
}
