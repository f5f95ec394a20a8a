using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// A diagonal block of <see cref="LinearAlgebra.ReverseCholesky"/> on CUDA, factored and inverted by one kernel launch
/// for the whole batch (Cuda/ReverseCholeskyLeaf.cu, one thread block per matrix, the block in shared memory).
/// </summary>
public static class ReverseCholeskyLeaf
{
    /// <summary>Widest block the kernel takes: its packed triangle fills 129 KiB of shared memory.</summary>
    public const int MaxWidth = 256;

    /// <summary>Threads per matrix: every step of the sweep ends at a barrier, so fewer warps reach it sooner.</summary>
    public const int DefaultThreads = 1024;

    /// <summary>Replaces the block [o, o + w) of every matrix by R⁻¹ (A22 = R·Rᵀ, R upper), zeros below the diagonal.</summary>
    /// <param name="a">(E, n, n) fp32 contiguous CUDA; only the block's upper triangle is read.</param>
    /// <param name="o">The block's first row and column.</param>
    /// <param name="w">Its width, 1..<see cref="MaxWidth"/>.</param>
    /// <param name="failed">(E) bool contiguous: set where a pivot was not positive.</param>
    /// <param name="factor">(E, w, w) fp32 contiguous to receive R itself, or null.</param>
    /// <param name="threads">Threads per matrix, a multiple of 32 up to 1024.</param>
    public static void FactorAndInvert(Tensor a, int o, int w, Tensor failed, Tensor? factor, int threads = DefaultThreads)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(w, MaxWidth);
        var (matrices, n) = ((int)a.shape[0], (int)a.shape[1]);
        if (matrices == 0)
        {
            return;
        }

        var sharedBytes = sizeof(float) * ((w * (w + 1) / 2) + w);
        CudaModuleCache.Get(a.device.index, "ReverseCholeskyLeaf", "reverse_cholesky_leaf").Launch(
            ((uint)matrices, 1u, 1u), ((uint)threads, 1u, 1u), sharedBytes,
            KernelArgument.Of(a), (long)n * n, n, o, w, KernelArgument.Of(failed),
            factor is null ? IntPtr.Zero : DevicePointer.Of(factor));
    }
}
