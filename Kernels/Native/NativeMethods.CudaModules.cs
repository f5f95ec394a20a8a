using System.Runtime.InteropServices;

namespace MoeQuant.Kernels.Native;

/// <summary>Driver-API calls that load compiled kernels and launch them.</summary>
internal static partial class NativeMethods
{
    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuCtxGetCurrent(out IntPtr context);

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuCtxSetCurrent(IntPtr context);

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuCtxSynchronize();

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuModuleLoadData(out IntPtr module, byte[] image);

    [LibraryImport(CudaDriverLibrary, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int cuModuleGetFunction(out IntPtr function, IntPtr module, string name);

    [LibraryImport(CudaDriverLibrary)]
    internal static partial int cuFuncSetAttribute(IntPtr function, int attribute, int value);

    [LibraryImport(CudaDriverLibrary)]
    internal static unsafe partial int cuLaunchKernel(
        IntPtr function,
        uint gridX,
        uint gridY,
        uint gridZ,
        uint blockX,
        uint blockY,
        uint blockZ,
        uint sharedMemBytes,
        IntPtr stream,
        void** kernelParams,
        void** extra);

    /// <summary>LibTorchSharp's accessor for at::Tensor::data_ptr(): the device address of a tensor's first element.</summary>
    [LibraryImport("LibTorchSharp")]
    internal static partial IntPtr THSTensor_data(IntPtr tensor);
}
