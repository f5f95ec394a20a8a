using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// The trailing update of <see cref="LinearAlgebra.ReverseCholesky"/> on CUDA, <c>A[:, 0:l, f:l] −= Xᵀ[:, 0:l]·X[:, :, f:l]</c>
/// for each column slab [f, l), fp32-accurate on TF32 tensor cores. X is split once per panel into two band copies,
/// <c>[X_hi; X_hi; X_lo]</c> and <c>[X_hi; X_lo; X_hi]</c> (Cuda/SplitTf32.cu), so each slab is one strided-batched cuBLAS
/// product of three times the depth (hi·hi + lo·hi + hi·lo) accumulated straight into A (beta = 1), as
/// <see cref="LazyBlockUpdate"/> does: the trailing block is read and written once per slab, with no temporary of its size.
/// </summary>
internal static class TrailingUpdate
{
    /// <summary>Subtracts Xᵀ·X from the slabs of the trailing block of every matrix.</summary>
    /// <param name="a">(E, n, n) fp32 CUDA contiguous; its top-left s × s block is updated.</param>
    /// <param name="x">(E, w, s) fp32 CUDA contiguous: the panel R12 transposed.</param>
    /// <param name="slabs">Column slabs [first, last) covering [0, s); slab [f, l) updates rows [0, l).</param>
    public static void Subtract(Tensor a, Tensor x, IReadOnlyList<(int First, int Last)> slabs)
    {
        var (matrices, n) = ((int)a.shape[0], (int)a.shape[1]);
        var (width, trailing) = ((int)x.shape[1], (int)x.shape[2]);
        if (matrices == 0 || width == 0 || trailing == 0)
        {
            return;
        }

        var device = a.device.index;
        var source = DevicePointer.Of(x);
        using var left = empty(matrices, 3 * width, trailing, ScalarType.Float32, a.device);
        using var right = empty(matrices, 3 * width, trailing, ScalarType.Float32, a.device);
        Tf32Bands.Split(device, source, (long)width * trailing, trailing, width, trailing, matrices, left, loSlot: 2);
        Tf32Bands.Split(device, source, (long)width * trailing, trailing, width, trailing, matrices, right, loSlot: 1);
        var (l, r, c) = (DevicePointer.Of(left), DevicePointer.Of(right), DevicePointer.Of(a));
        var depth = 3 * width;
        var bandStride = (long)depth * trailing;
        foreach (var (first, last) in slabs)
        {
            // Column-major, the row-major slab A[0:l, f:l] is its transpose (l − f) × l with ld n:
            // Slabᵀ −= op_N(right[:, f:l]) (as (l − f) × 3w, ld s) · op_T(left[:, 0:l]) (3w × l from l × 3w, ld s).
            Cublas.GemmStridedBatched(
                device, Cublas.OpN, Cublas.OpT, last - first, last, depth, -1f,
                Offset(r, first), trailing, bandStride,
                l, trailing, bandStride,
                1f, Offset(c, first), n, (long)n * n,
                matrices, Cublas.Compute32FFastTf32);
        }
    }

    private static IntPtr Offset(IntPtr pointer, long floats) => pointer + (nint)(floats * sizeof(float));
}
