using MoeQuant.Kernels.Native;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// Start and stop of the profiled range (cuProfilerStart/cuProfilerStop): under <c>ncu --profile-from-start off</c> only
/// kernels launched inside such a range are profiled. Outside a profiler both calls do nothing.
/// </summary>
public static class CudaProfiler
{
    /// <summary>Opens a profiled range on <paramref name="device"/>'s primary context (the one libtorch uses).</summary>
    public static void Start(int device)
    {
        CudaContext.MakeCurrent(device);
        CudaDriver.Check(NativeMethods.cuProfilerStart(), "cuProfilerStart");
    }

    /// <summary>Closes the profiled range on <paramref name="device"/>'s primary context.</summary>
    public static void Stop(int device)
    {
        CudaContext.MakeCurrent(device);
        CudaDriver.Check(NativeMethods.cuProfilerStop(), "cuProfilerStop");
    }
}
