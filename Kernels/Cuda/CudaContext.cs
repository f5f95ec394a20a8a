using MoeQuant.Kernels.Native;

namespace MoeQuant.Kernels.Cuda;

/// <summary>Makes a device's primary context current on the calling thread: the same context libtorch uses, so our kernels and its tensors share memory and the default stream.</summary>
public static class CudaContext
{
    private static readonly Dictionary<int, IntPtr> PrimaryContexts = [];

    /// <summary>Binds the primary context of <paramref name="device"/> to this thread (each GPU node has one pinned thread per device).</summary>
    public static void MakeCurrent(int device)
    {
        IntPtr context;
        lock (PrimaryContexts)
        {
            if (!PrimaryContexts.TryGetValue(device, out context))
            {
                CudaDriver.Check(NativeMethods.cuDevicePrimaryCtxRetain(out context, device), "cuDevicePrimaryCtxRetain");
                PrimaryContexts[device] = context;
            }
        }

        CudaDriver.Check(NativeMethods.cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    /// <summary>Waits for all work on the current context; surfaces asynchronous kernel faults as typed exceptions.</summary>
    public static void Synchronize() => CudaDriver.Check(NativeMethods.cuCtxSynchronize(), "cuCtxSynchronize");
}
