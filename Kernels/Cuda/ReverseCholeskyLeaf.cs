using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// A diagonal block of <see cref="LinearAlgebra.ReverseCholesky"/> on CUDA, factored and inverted by one kernel launch
/// for the whole batch (Cuda/ReverseCholeskyLeaf.cu, one thread block per matrix, the block in shared memory).
/// </summary>
public static class ReverseCholeskyLeaf
{
    /// <summary>
    /// Widest block the factorization hands the kernel. It takes up to 256 (its packed triangle then fills 129 KiB of
    /// shared memory), but at 256 it took 0.86 ms a launch, slower than cuSOLVER at 1 and 32 matrices.
    /// </summary>
    public const int MaxWidth = 128;

    // The widest block the kernel's shared memory holds.
    private const int SharedMemoryWidth = 256;

    /// <summary>
    /// Threads per matrix. Every step of the sweep ends at a barrier, yet more warps still won: 1024 against 512 and 256
    /// took 0.25 / 0.29 / 0.38 ms for 32 leaves of 128 (`bench gptq`, reverse-cholesky-leaf, H100).
    /// </summary>
    public const int Threads = 1024;

    /// <summary>
    /// Fewest matrices for which the kernel beats cuSOLVER's batched potrf and triangular solve at leaves of 128 on an
    /// H100: one launch takes about 0.25 ms whatever the batch (one thread block per matrix), cuSOLVER 0.13 ms for one
    /// matrix, 0.49 ms for 8 and 0.28 ms for 32 (0.51×, 1.95× and 1.1× the kernel's speed).
    /// </summary>
    public const int MinBatch = 4;

    /// <summary>Replaces the block [o, o + w) of every matrix by R⁻¹ (A22 = R·Rᵀ, R upper), zeros below the diagonal.</summary>
    /// <param name="a">(E, n, n) fp32 contiguous CUDA; only the block's upper triangle is read.</param>
    /// <param name="o">The block's first row and column.</param>
    /// <param name="w">Its width, 1..256.</param>
    /// <param name="failed">(E) bool contiguous: set where a pivot was not positive.</param>
    /// <param name="factor">(E, w, w) fp32 contiguous to receive R itself, or null.</param>
    public static void FactorAndInvert(Tensor a, int o, int w, Tensor failed, Tensor? factor)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(w, SharedMemoryWidth);
        var (matrices, n) = ((int)a.shape[0], (int)a.shape[1]);
        if (matrices == 0)
        {
            return;
        }

        var sharedBytes = sizeof(float) * ((w * (w + 1) / 2) + w);
        CudaModuleCache.Get(a.device.index, "ReverseCholeskyLeaf", "reverse_cholesky_leaf").Launch(
            ((uint)matrices, 1u, 1u), (Threads, 1u, 1u), sharedBytes,
            KernelArgument.Of(a), (long)n * n, n, o, w, KernelArgument.Of(failed),
            factor is null ? IntPtr.Zero : DevicePointer.Of(factor));
    }
}
