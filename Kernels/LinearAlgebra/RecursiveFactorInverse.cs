using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Gptq;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.LinearAlgebra;

/// <summary>
/// GPTQ's U for a batch of symmetric positive definite H, in place and in one recursion: <c>H = R·Rᵀ</c> with R upper
/// triangular, and <c>U = R⁻¹</c> (<c>H⁻¹ = UᵀU</c>), without R ever being kept whole.
/// <para>
/// With <c>H = [[H11, H12], [H21, H22]]</c> and <c>R = [[R11, R12], [0, R22]]</c>, <c>H = R·Rᵀ</c> gives
/// <c>H22 = R22·R22ᵀ</c>, <c>R12 = H12·R22⁻ᵀ</c> and <c>H11 − R12·R12ᵀ = R11·R11ᵀ</c>; and
/// <c>R⁻¹ = [[X11, −X11·R12·X22], [0, X22]]</c>. So: X22 by recursion on H22, R12 = H12·X22ᵀ over H12, the symmetric
/// update H11 −= R12·R12ᵀ, X11 by recursion on H11, then X12 = −X11·R12·X22 over R12. Diagonal blocks of at most
/// <see cref="LeafSize"/> are factored (batched <c>cholesky_ex</c> of the flipped block: the reverse Cholesky is the
/// lower one of <c>J·H·J</c>) and inverted (<c>solve_triangular</c>) directly.
/// </para>
/// <para>
/// Every product is one of four big batched shapes at each level, all fp32-accurate (3xTF32 on CUDA, with both operands
/// K-major, <see cref="TriangularProducts"/>) and skipping the zero triangles: the top level's products have depth
/// 3·n/2. A right-looking panel Cholesky followed by a separate inverse issued the same FLOPs as thousands of
/// 768-deep products that read and wrote the trailing block each time, at a third of the tensor pipe.
/// </para>
/// </summary>
public static class RecursiveFactorInverse
{
    /// <summary>Diagonal blocks at most this wide are factored and inverted directly (cuSOLVER's batched kernels).</summary>
    public const int LeafSize = 256;

    /// <summary>Blocks each product with a triangular or symmetric operand is cut into: 5/8 of the square's products.</summary>
    private const int TriangleBlocks = 4;

    /// <summary>
    /// Replaces every H (E, n, n) by U = R⁻¹ where H = R·Rᵀ, R upper: upper triangular, zeros below. Only the upper
    /// triangle of H is read. No host synchronization. A matrix that is not positive definite is flagged and holds
    /// garbage (NaN or Inf possible); the others are unaffected.
    /// </summary>
    /// <param name="hessians">(E, n, n) fp32 or fp64 contiguous, any device.</param>
    /// <param name="stage">Stage announcements (<see cref="GptqBatchSettings.Stages"/>); null: none.</param>
    /// <param name="leafSize">Diagonal blocks at most this wide are factored directly (≥ 1).</param>
    /// <returns>(E) bool on the same device: true where a leading minor was not positive.</returns>
    public static Tensor FactorInPlace(Tensor hessians, Action<GptqStage>? stage = null, int leafSize = LeafSize)
    {
        ArgumentNullException.ThrowIfNull(hessians);
        ArgumentOutOfRangeException.ThrowIfLessThan(leafSize, 1);
        if (hessians.dim() != 3 || hessians.shape[1] != hessians.shape[2] || !hessians.is_contiguous()
            || (hessians.dtype != ScalarType.Float32 && hessians.dtype != ScalarType.Float64))
        {
            throw new ArgumentException($"expected (E, n, n) fp32/fp64 contiguous, got {hessians.dtype}[{string.Join(",", hessians.shape)}]", nameof(hessians));
        }

        var failed = zeros(hessians.shape[0], dtype: ScalarType.Bool, device: hessians.device);
        var tensorCores = hessians.device_type == DeviceType.CUDA && hessians.dtype == ScalarType.Float32;
        Recurse(hessians, failed, stage, leafSize, tensorCores);
        return failed;
    }

    /// <summary>
    /// Peak bytes of temporaries per matrix, those of the top level's products: on CUDA their 3xTF32 bands, 12·(h² + h·r)
    /// for halves h and r (about 6·n²); elsewhere the products, 4·(h² + h·r).
    /// </summary>
    public static long WorkspaceBytesPerMatrix(int n, bool cuda, int leafSize = LeafSize)
    {
        if (n <= leafSize)
        {
            return 4L * 4 * n * n; // the leaf's flip, factor, identity and inverse
        }

        var half = (long)Half(n, leafSize);
        var rest = n - half;
        return cuda ? TriangularProducts.BandBytes(half, half, rest) : 4 * ((half * half) + (half * rest));
    }

    // The first half's width: a multiple of the leaf, so that every leaf is a whole block of the partition.
    internal static int Half(int n, int leafSize) => Math.Max(leafSize, n / 2 / leafSize * leafSize);

    // a: an (E, n, n) view of contiguous matrices; on return its upper triangle holds X = R⁻¹ and its lower one zeros.
    private static void Recurse(Tensor a, Tensor failed, Action<GptqStage>? stage, int leafSize, bool tensorCores)
    {
        using var scope = NewDisposeScope();
        var n = (int)a.shape[1];
        if (n <= leafSize)
        {
            Leaf(a, failed, stage);
            return;
        }

        var h = Half(n, leafSize);
        var r = n - h;
        var a11 = a.narrow(1, 0, h).narrow(2, 0, h);
        var a12 = a.narrow(1, 0, h).narrow(2, h, r);
        var a22 = a.narrow(1, h, r).narrow(2, h, r);
        // Nothing reads below the diagonal; zeroed here, level by level, so every X is triangular when it is multiplied.
        stage?.Invoke(GptqStage.FactorAssembly);
        a.narrow(1, h, r).narrow(2, 0, h).zero_();

        Recurse(a22, failed, stage, leafSize, tensorCores);
        stage?.Invoke(GptqStage.FactorProduct);
        if (tensorCores)
        {
            var (device, batch) = (a.device.index, (int)a.shape[0]);
            var (b11, b12, b22) = (Block(a, 0, 0), Block(a, 0, h), Block(a, h, h));
            TriangularProducts.FullTimesUpperTransposed(device, batch, h, r, b12, b22, b12, TriangleBlocks);
            TriangularProducts.SubtractSymmetric(device, batch, h, r, b12, b11, TriangleBlocks);
            Recurse(a11, failed, stage, leafSize, tensorCores);
            stage?.Invoke(GptqStage.InverseProduct);
            TriangularProducts.UpperTimesFull(device, batch, h, r, b11, b12, b12, TriangleBlocks);
            TriangularProducts.FullTimesUpper(device, batch, h, r, b12, b22, b12, -1f, TriangleBlocks);
            return;
        }

        // Off tensor cores (CPU, fp64): whole products; X11 and X22 are triangular with zeros below.
        a12.copy_(a12.matmul(a22.transpose(1, 2)));
        a11.sub_(a12.matmul(a12.transpose(1, 2)));
        Recurse(a11, failed, stage, leafSize, tensorCores);
        stage?.Invoke(GptqStage.InverseProduct);
        a12.copy_(a11.matmul(a12).matmul(a22).neg_());
    }

    // X = R⁻¹ of one diagonal block: R = J·chol(J·A·J)·J (the flipped block's lower triangle is A's upper one), so
    // R⁻¹ = J·L⁻¹·J, upper with zeros below.
    private static void Leaf(Tensor a, Tensor failed, Action<GptqStage>? stage)
    {
        using var scope = NewDisposeScope();
        stage?.Invoke(GptqStage.FactorLeaf);
        var (lower, info) = linalg.cholesky_ex(a.flip(1, 2));
        failed.logical_or_(info.ne(0));
        var identity = eye(a.shape[1], dtype: a.dtype, device: a.device).expand_as(lower);
        var inverse = linalg.solve_triangular(lower, identity, upper: false);
        stage?.Invoke(GptqStage.FactorAssembly);
        a.copy_(inverse.flip(1, 2));
    }

    // A block of a view into a contiguous (E, N, N) tensor: narrow keeps the base's strides and moves the offset.
    private static TriangularProducts.Block Block(Tensor view, int row, int column) => new(
        DevicePointer.OfStrided(view) + (nint)(((row * view.stride(1)) + column) * sizeof(float)), (int)view.stride(1), view.stride(0));
}
