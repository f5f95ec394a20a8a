using MoeQuant.Kernels.Native;

namespace MoeQuant.Kernels.Cuda;

/// <summary>One cuBLAS handle per device, bound to libtorch's default stream, and cuBLAS's constants.</summary>
internal static class Cublas
{
    public const int OpN = 0;
    public const int OpT = 1;
    public const int R32F = 0;
    public const int R16BF = 14;
    public const int Compute32F = 68;
    public const int Compute32FFastTf32 = 77;
    public const int GemmDefault = -1;

    private static readonly Dictionary<int, IntPtr> Handles = [];

    public static IntPtr Handle(int device)
    {
        lock (Handles)
        {
            if (!Handles.TryGetValue(device, out var handle))
            {
                NativeLibraryResolver.EnsureRegistered();
                CudaContext.MakeCurrent(device);
                Check(NativeMethods.cublasCreate(out handle), "cublasCreate");
                Check(NativeMethods.cublasSetStream(handle, IntPtr.Zero), "cublasSetStream"); // libtorch's default stream
                Handles[device] = handle;
            }

            return handle;
        }
    }

    public static void Check(int status, string call)
    {
        if (status != 0)
        {
            throw new CudaException(call, status, $"CUBLAS_STATUS {status}");
        }
    }
}
