using System.Runtime.InteropServices;

namespace MoeQuant.Kernels.Native;

/// <summary>
/// The few CUDA driver-API entry points MoeQuant calls itself (ManagedCuda is not available).
/// libcuda.so.1 ships with the NVIDIA driver, so it exists only on GPU machines: callers must go through
/// <see cref="Cuda.CudaDriver"/>, which turns a missing library into "no GPU" rather than a crash.
/// </summary>
internal static partial class NativeMethods
{
    private const string CudaDriverLibrary = "libcuda.so.1";

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuInit(uint flags);

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuDriverGetVersion(out int version);

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuDeviceGetCount(out int count);

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuDeviceGet(out int device, int ordinal);

    [LibraryImport(CudaDriverLibrary)]
    internal static unsafe partial int cuDeviceGetName(byte* name, int length, int device);

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuDeviceGetAttribute(out int value, int attribute, int device);

    [LibraryImport(CudaDriverLibrary, EntryPoint = "cuDeviceTotalMem_v2")]
    internal static partial int cuDeviceTotalMem(out nuint bytes, int device);

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuDevicePrimaryCtxRetain(out IntPtr context, int device);

    [LibraryImport(CudaDriverLibrary, EntryPoint = "cuDevicePrimaryCtxRelease_v2")]
    internal static partial int cuDevicePrimaryCtxRelease(int device);

    [LibraryImport(CudaDriverLibrary, EntryPoint = "cuCtxPushCurrent_v2")]
    internal static partial int cuCtxPushCurrent(IntPtr context);

    [LibraryImport(CudaDriverLibrary, EntryPoint = "cuCtxPopCurrent_v2")]
    internal static partial int cuCtxPopCurrent(out IntPtr context);

    [LibraryImport(CudaDriverLibrary, EntryPoint = "cuMemGetInfo_v2")]
    internal static partial int cuMemGetInfo(out nuint free, out nuint total);

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuGetErrorName(int error, out IntPtr name);

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuProfilerStart();

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuProfilerStop();
}
