using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// The trailing update of <see cref="LinearAlgebra.ReverseCholesky"/> on CUDA, <c>A[:, 0:l, f:l] −= R12[:, 0:l]·R12[:, f:l]ᵀ</c>
/// for each column slab [f, l), fp32-accurate on TF32 tensor cores. The panel R12 (s × w, in place in A) is split once
/// into two band copies (<see cref="Tf32Bands"/>, K = the panel's columns, interleaved), so each slab is one
/// strided-batched cuBLAS product of three times the depth accumulated straight into A (beta = 1): the trailing block is
/// read and written once per slab, with no temporary of its size. Both operands are K-major (op T, op N), the layout
/// TF32 tensor-core GEMMs run fastest; a row-major panel transposed (op N, op T) ran at a third of the tensor pipe.
/// </summary>
internal static class TrailingUpdate
{
    /// <summary>Subtracts R12·R12ᵀ from the slabs of the trailing block of every matrix.</summary>
    /// <param name="a">(E, n, n) fp32 CUDA contiguous; R12 is its block at rows [0, s), columns [s, s + w), and its top-left s × s block is updated.</param>
    /// <param name="start">s: the panel's first column, the trailing block's size.</param>
    /// <param name="width">w: the panel's width.</param>
    /// <param name="slabs">Column slabs [first, last) covering [0, s); slab [f, l) updates rows [0, l).</param>
    public static void Subtract(Tensor a, int start, int width, IReadOnlyList<(int First, int Last)> slabs)
    {
        var (matrices, n) = ((int)a.shape[0], (int)a.shape[1]);
        if (matrices == 0 || width == 0 || start == 0)
        {
            return;
        }

        var device = a.device.index;
        var c = DevicePointer.Of(a);
        var panel = DevicePointer.Offset(c, start);
        var matrixStride = (long)n * n;
        // (E, s, 3w) each: row i holds R12[i, :]'s terms, K-contiguous.
        using var left = Tf32Bands.Interleaved(device, panel, matrixStride, n, start, width, matrices, Tf32Bands.Left);
        using var right = Tf32Bands.Interleaved(device, panel, matrixStride, n, start, width, matrices, Tf32Bands.Right);
        var (l, r) = (DevicePointer.Of(left), DevicePointer.Of(right));
        var depth = 3 * width;
        var bandStride = (long)start * depth;
        foreach (var (first, last) in slabs)
        {
            // Column-major, the row-major slab A[0:l, f:l] is its transpose (l − f) × l with ld n:
            // Slabᵀ −= op_T(left rows f:l, as 3w × (l − f), ld 3w) · op_N(right rows 0:l, as 3w × l, ld 3w).
            Cublas.GemmStridedBatched(
                device, Cublas.OpT, Cublas.OpN, last - first, last, depth, -1f,
                DevicePointer.Offset(l, (long)first * depth), depth, bandStride,
                r, depth, bandStride,
                1f, DevicePointer.Offset(c, first), n, matrixStride,
                matrices, Cublas.Compute32FFastTf32);
        }
    }
}
