using MoeQuant.Kernels.Native;

namespace MoeQuant.Kernels.Cuda;

/// <summary>Device memory as the CUDA driver counts it (cuMemGetInfo).</summary>
public static class CudaMemory
{
    /// <summary>
    /// Free and total memory of one device now. Blocks that libtorch's caching allocator holds for reuse count as used,
    /// so after earlier work this understates what torch can still allocate (TorchSharp exposes no memory_reserved).
    /// </summary>
    /// <param name="ordinal">CUDA device ordinal.</param>
    public static (long FreeBytes, long TotalBytes) Of(int ordinal)
    {
        if (!CudaDriver.IsAvailable)
        {
            throw new InvalidOperationException($"CUDA is not available: {CudaDriver.WhyUnavailable}");
        }

        CudaDriver.Check(NativeMethods.cuDeviceGet(out var device, ordinal), "cuDeviceGet");
        // Free memory is a per-context query: borrow the primary context (the one libtorch also uses) for the call.
        CudaDriver.Check(NativeMethods.cuDevicePrimaryCtxRetain(out var context, device), "cuDevicePrimaryCtxRetain");
        try
        {
            CudaDriver.Check(NativeMethods.cuCtxPushCurrent(context), "cuCtxPushCurrent");
            try
            {
                CudaDriver.Check(NativeMethods.cuMemGetInfo(out var free, out var total), "cuMemGetInfo");
                return ((long)free, (long)total);
            }
            finally
            {
                _ = NativeMethods.cuCtxPopCurrent(out _);
            }
        }
        finally
        {
            _ = NativeMethods.cuDevicePrimaryCtxRelease(device); // cleanup on a path that may already be throwing
        }
    }

    /// <summary>Memory in use on the device (total − free: every process, caching reserves included).</summary>
    /// <param name="ordinal">CUDA device ordinal.</param>
    public static long UsedBytes(int ordinal)
    {
        var (free, total) = Of(ordinal);
        return total - free;
    }
}
