using System.Runtime.InteropServices;

namespace MoeQuant.Kernels.Native;

/// <summary>cuBLAS, for the one product libtorch does not offer: bf16 inputs with an fp32 output (exact Hessians of bf16 activations).</summary>
internal static partial class NativeMethods
{
    // Resolved by NativeLibraryResolver to the installed major version (libcublas.so.13, .12).
    internal const string CublasLibrary = "moequant-cublas";

    [LibraryImport(CublasLibrary, EntryPoint = "cublasCreate_v2")]
    internal static partial int cublasCreate(out IntPtr handle);

    [LibraryImport(CublasLibrary, EntryPoint = "cublasSetStream_v2")]
    internal static partial int cublasSetStream(IntPtr handle, IntPtr stream);

    [LibraryImport(CublasLibrary)]
    internal static unsafe partial int cublasGemmEx(
        IntPtr handle,
        int transa,
        int transb,
        int m,
        int n,
        int k,
        float* alpha,
        IntPtr a,
        int aType,
        int lda,
        IntPtr b,
        int bType,
        int ldb,
        float* beta,
        IntPtr c,
        int cType,
        int ldc,
        int computeType,
        int algo);

    [LibraryImport(CublasLibrary)]
    internal static unsafe partial int cublasGemmStridedBatchedEx(
        IntPtr handle,
        int transa,
        int transb,
        int m,
        int n,
        int k,
        float* alpha,
        IntPtr a,
        int aType,
        int lda,
        long strideA,
        IntPtr b,
        int bType,
        int ldb,
        long strideB,
        float* beta,
        IntPtr c,
        int cType,
        int ldc,
        long strideC,
        int batchCount,
        int computeType,
        int algo);
}
