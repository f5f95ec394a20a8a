using MoeQuant.Kernels.Native;

namespace MoeQuant.Kernels.Cuda;

/// <summary>cuBLAS handles (one per thread and device, bound to libtorch's default stream) and cuBLAS's constants.</summary>
internal static class Cublas
{
    public const int OpN = 0;
    public const int OpT = 1;
    public const int R32F = 0;
    public const int R16BF = 14;
    public const int Compute32F = 68;
    public const int Compute32FFastTf32 = 77;
    public const int GemmDefault = -1;

    /// <summary>cublasStatus_t CUBLAS_STATUS_ALLOC_FAILED: cuBLAS could not allocate its workspace.</summary>
    private const int CublasStatusAllocFailed = 3;

    // One handle per thread and device, as cuBLAS asks: two device threads on one GPU (--devices 0:2) sharing a handle
    // share its workspace and configuration. Device threads live as long as the run, so handles are never destroyed.
    [ThreadStatic]
    private static Dictionary<int, IntPtr>? _handles;

    /// <summary>This thread's handle for <paramref name="device"/>, bound to libtorch's default stream.</summary>
    public static IntPtr Handle(int device)
    {
        _handles ??= [];
        if (!_handles.TryGetValue(device, out var handle))
        {
            NativeLibraryResolver.EnsureRegistered();
            CudaContext.MakeCurrent(device);
            Check(NativeMethods.cublasCreate(out handle), "cublasCreate");
            Check(NativeMethods.cublasSetStream(handle, IntPtr.Zero), "cublasSetStream"); // libtorch's default stream
            _handles[device] = handle;
        }

        return handle;
    }

    /// <summary>
    /// Column-major C = alpha·op(A)·op(B) + beta·C for <paramref name="batch"/> fp32 matrices on libtorch's default
    /// stream of <paramref name="device"/>; a stride of 0 reuses one matrix for the whole batch.
    /// </summary>
    public static unsafe void GemmStridedBatched(
        int device, int opA, int opB, int m, int n, int k, float alpha,
        IntPtr a, int lda, long strideA, IntPtr b, int ldb, long strideB,
        float beta, IntPtr c, int ldc, long strideC, int batch, int compute)
    {
        Check(NativeMethods.cublasGemmStridedBatchedEx(
            Handle(device), opA, opB, m, n, k, &alpha,
            a, R32F, lda, strideA, b, R32F, ldb, strideB,
            &beta, c, R32F, ldc, strideC, batch, compute, GemmDefault), "cublasGemmStridedBatchedEx");
    }

    public static void Check(int status, string call)
    {
        if (status != 0)
        {
            // The pipeline meets a failed allocation with smaller waves, so it must not look like a kernel failure.
            throw status == CublasStatusAllocFailed
                ? new GpuOutOfMemoryException(call, status, "CUBLAS_STATUS_ALLOC_FAILED")
                : new CudaException(call, status, $"CUBLAS_STATUS {status}");
        }
    }
}
