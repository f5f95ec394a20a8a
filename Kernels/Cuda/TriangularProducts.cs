using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// fp32-accurate products with an upper triangular operand, on TF32 tensor cores, for <see cref="LinearAlgebra.UpperTriangularInverse"/>.
/// The operands are split into 3xTF32 terms interleaved along the depth (<see cref="Tf32Bands"/>), so that any depth range
/// is one contiguous slice and a product with a triangular operand can run as a few GEMMs, each
/// over only the depth where the triangle is not zero: with four blocks, 5/8 of the full square's products, each one
/// GEMM of three times the depth (hi·hi + hi·lo + lo·hi) writing its result once.
/// <para>
/// Operands are blocks of batched row-major matrices, given by their first element's address, leading dimension and
/// batch stride, so that the inverse's quadrants are used where they are, without copies.
/// </para>
/// </summary>
internal static class TriangularProducts
{
    /// <summary>A block of a batch of row-major fp32 matrices on a device.</summary>
    /// <param name="Address">First element of the first matrix's block.</param>
    /// <param name="Ld">Elements between consecutive rows.</param>
    /// <param name="BatchStride">Elements between consecutive matrices.</param>
    public readonly record struct Block(IntPtr Address, int Ld, long BatchStride);

    /// <summary>
    /// <c>C = T·B</c> for T upper triangular (m × m) and B (m × n): row block i of C needs only T's columns from its own
    /// first row on. C may be B itself (B is read into its bands before C is written).
    /// </summary>
    public static void UpperTimesFull(int device, int batch, int m, int n, Block t, Block b, Block c, int blocks)
    {
        // Both operands K-major, as TF32 tensor-core GEMMs want them: T's rows with K along them, B transposed (its columns).
        using var left = Tf32Bands.Interleaved(device, t.Address, t.BatchStride, t.Ld, m, m, batch, Tf32Bands.Left); // (E, m, 3m)
        using var right = Tf32Bands.Transposed(device, b.Address, b.BatchStride, b.Ld, m, n, batch, Tf32Bands.Right);                      // (E, n, 3m)
        var (l, r) = (DevicePointer.Of(left), DevicePointer.Of(right));
        foreach (var (first, last) in Boundaries(m, blocks))
        {
            var depth = 3 * (m - first);
            // Column-major: C[first:last, :]ᵀ (n × rows) = op_T(B'[:, 3·first:], depth × n) · op_N(T'[first:last, 3·first:], depth × rows).
            Cublas.GemmStridedBatched(
                device, Cublas.OpT, Cublas.OpN, n, last - first, depth, 1f,
                DevicePointer.Offset(r, 3L * first), 3 * m, 3L * m * n,
                DevicePointer.Offset(l, ((long)first * 3 * m) + (3L * first)), 3 * m, 3L * m * m,
                0f, DevicePointer.Offset(c.Address, (long)first * c.Ld), c.Ld, c.BatchStride,
                batch, Cublas.Compute32FFastTf32);
        }
    }

    /// <summary>
    /// <c>C = alpha·A·T</c> for A (m × n) and T upper triangular (n × n): column block j of C needs only T's rows up to
    /// its own last column. C may be A itself (A is read into its bands before C is written).
    /// </summary>
    public static void FullTimesUpper(int device, int batch, int m, int n, Block a, Block t, Block c, float alpha, int blocks)
    {
        // Both operands K-major: A's rows with K along them, T transposed (its columns).
        using var left = Tf32Bands.Interleaved(device, a.Address, a.BatchStride, a.Ld, m, n, batch, Tf32Bands.Left); // (E, m, 3n)
        using var right = Tf32Bands.Transposed(device, t.Address, t.BatchStride, t.Ld, n, n, batch, Tf32Bands.Right);                      // (E, n, 3n)
        var (l, r) = (DevicePointer.Of(left), DevicePointer.Of(right));
        foreach (var (first, last) in Boundaries(n, blocks))
        {
            var depth = 3 * last;
            // Column-major: C[:, first:last]ᵀ (cols × m) = op_T(T'[first:last, :3·last], depth × cols) · op_N(A'[:, :3·last], depth × m).
            Cublas.GemmStridedBatched(
                device, Cublas.OpT, Cublas.OpN, last - first, m, depth, alpha,
                DevicePointer.Offset(r, (long)first * 3 * n), 3 * n, 3L * n * n,
                l, 3 * n, 3L * m * n,
                0f, DevicePointer.Offset(c.Address, first), c.Ld, c.BatchStride,
                batch, Cublas.Compute32FFastTf32);
        }
    }

    /// <summary>Bytes of the bands one matrix needs for an (m × k)·(k × n) product: 3·(m·k + k·n) floats.</summary>
    public static long BandBytes(long m, long k, long n) => 4 * 3 * ((m * k) + (k * n));

    /// <summary>Split points of [0, size) into <paramref name="blocks"/> parts, on multiples of 64 where the size allows (GEMM tile alignment).</summary>
    private static IReadOnlyList<(int First, int Last)> Boundaries(int size, int blocks)
    {
        var points = Enumerable.Range(0, blocks + 1)
            .Select(i => i == blocks ? size : (int)((long)size * i / blocks) / 64 * 64)
            .Distinct()
            .ToArray();
        return [.. points.Zip(points.Skip(1))];
    }
}
