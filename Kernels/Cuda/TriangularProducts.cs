using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// fp32-accurate products with an upper triangular operand, on TF32 tensor cores, for <see cref="LinearAlgebra.UpperTriangularInverse"/>.
/// The operands are split into 3xTF32 terms interleaved along the depth (Cuda/SplitTf32.cu <c>split_tf32_interleaved</c>),
/// so that any depth range is one contiguous slice and a product with a triangular operand can run as a few GEMMs, each
/// over only the depth where the triangle is not zero: with four blocks, 5/8 of the full square's products, each one
/// GEMM of three times the depth (hi·hi + hi·lo + lo·hi) writing its result once.
/// <para>
/// Operands are blocks of batched row-major matrices, given by their first element's address, leading dimension and
/// batch stride, so that the inverse's quadrants are used where they are, without copies.
/// </para>
/// </summary>
internal static class TriangularProducts
{
    private const int Threads = 256;

    /// <summary>A block of a batch of row-major fp32 matrices on a device.</summary>
    /// <param name="Address">First element of the first matrix's block.</param>
    /// <param name="Ld">Elements between consecutive rows.</param>
    /// <param name="BatchStride">Elements between consecutive matrices.</param>
    public readonly record struct Block(IntPtr Address, int Ld, long BatchStride)
    {
        /// <summary>The block of <paramref name="matrices"/> (E, N, N contiguous) at (row, column).</summary>
        public static Block Of(Tensor matrices, int row, int column)
        {
            var n = (int)matrices.shape[2];
            return new Block(DevicePointer.Of(matrices) + (nint)(((long)row * n + column) * sizeof(float)), n, (long)matrices.shape[1] * n);
        }
    }

    /// <summary>
    /// <c>C = T·B</c> for T upper triangular (m × m) and B (m × n): row block i of C needs only T's columns from its own
    /// first row on. C may be B itself (B is read into its bands before C is written).
    /// </summary>
    public static void UpperTimesFull(int device, int batch, int m, int n, Block t, Block b, Block c, int blocks)
    {
        using var left = Bands(device, batch, t, m, m, alongColumns: true, loSlot: 2);   // (E, m, 3m): hi hi lo
        using var right = Bands(device, batch, b, m, n, alongColumns: false, loSlot: 1); // (E, 3m, n): hi lo hi
        var (l, r) = (DevicePointer.Of(left), DevicePointer.Of(right));
        foreach (var (first, last) in Boundaries(m, blocks))
        {
            var depth = 3 * (m - first);
            // Column-major: C[first:last, :]ᵀ (n × rows) = B'[3·first:, :]ᵀ (n × depth) · T'[first:last, 3·first:]ᵀ (depth × rows).
            Cublas.GemmStridedBatched(
                device, Cublas.OpN, Cublas.OpN, n, last - first, depth, 1f,
                Offset(r, 3L * first * n), n, 3L * m * n,
                Offset(l, ((long)first * 3 * m) + (3L * first)), 3 * m, 3L * m * m,
                0f, Offset(c.Address, (long)first * c.Ld), c.Ld, c.BatchStride,
                batch, Cublas.Compute32FFastTf32);
        }
    }

    /// <summary>
    /// <c>C = alpha·A·T</c> for A (m × n) and T upper triangular (n × n): column block j of C needs only T's rows up to
    /// its own last column. C may be A itself (A is read into its bands before C is written).
    /// </summary>
    public static void FullTimesUpper(int device, int batch, int m, int n, Block a, Block t, Block c, float alpha, int blocks)
    {
        using var left = Bands(device, batch, a, m, n, alongColumns: true, loSlot: 2);   // (E, m, 3n): hi hi lo
        using var right = Bands(device, batch, t, n, n, alongColumns: false, loSlot: 1); // (E, 3n, n): hi lo hi
        var (l, r) = (DevicePointer.Of(left), DevicePointer.Of(right));
        foreach (var (first, last) in Boundaries(n, blocks))
        {
            var depth = 3 * last;
            // Column-major: C[:, first:last]ᵀ (cols × m) = T'[:3·last, first:last]ᵀ (cols × depth) · A'[:, :3·last]ᵀ (depth × m).
            Cublas.GemmStridedBatched(
                device, Cublas.OpN, Cublas.OpN, last - first, m, depth, alpha,
                Offset(r, first), n, 3L * n * n,
                l, 3 * n, 3L * m * n,
                0f, Offset(c.Address, first), c.Ld, c.BatchStride,
                batch, Cublas.Compute32FFastTf32);
        }
    }

    /// <summary>Bytes of the bands one matrix needs for an (m × k)·(k × n) product: 3·(m·k + k·n) floats.</summary>
    public static long BandBytes(long m, long k, long n) => 4 * 3 * ((m * k) + (k * n));

    /// <summary>Split points of [0, size) into <paramref name="blocks"/> parts, on multiples of 64 where the size allows (GEMM tile alignment).</summary>
    internal static IReadOnlyList<(int First, int Last)> Boundaries(int size, int blocks)
    {
        var points = Enumerable.Range(0, blocks + 1)
            .Select(i => i == blocks ? size : (int)((long)size * i / blocks) / 64 * 64)
            .Distinct()
            .ToArray();
        return [.. points.Zip(points.Skip(1))];
    }

    private static Tensor Bands(int device, int batch, Block source, int rows, int cols, bool alongColumns, int loSlot)
    {
        var bands = alongColumns
            ? empty(batch, rows, 3 * cols, ScalarType.Float32, new Device(DeviceType.CUDA, device))
            : empty(batch, 3 * rows, cols, ScalarType.Float32, new Device(DeviceType.CUDA, device));
        var count = (long)batch * rows * cols;
        var grid = (uint)Math.Min(65535, (count + Threads - 1) / Threads);
        CudaModuleCache.Get(device, "SplitTf32", "split_tf32_interleaved").Launch(
            (grid, 1u, 1u), (Threads, 1u, 1u), 0,
            source.Address, source.BatchStride, source.Ld, rows, cols, KernelArgument.Of(bands), count, loSlot, alongColumns ? 1 : 0);
        return bands;
    }

    private static IntPtr Offset(IntPtr pointer, long floats) => pointer + (nint)(floats * sizeof(float));
}
