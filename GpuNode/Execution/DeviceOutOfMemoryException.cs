using MoeQuant.Messages;

namespace MoeQuant.GpuNode.Execution;

/// <summary>
/// A device job ran out of device memory (<see cref="Kernels.Cuda.CudaOutOfMemory"/>), whatever threw it: the executor
/// puts this in place of the original failure, with the job and the device's memory at that moment, so that actors
/// match one type and the coordinator hears of it as <see cref="DeviceOutOfMemory"/> rather than as a lost device.
/// </summary>
public sealed class DeviceOutOfMemoryException : Exception
{
    public DeviceOutOfMemoryException(string device, GpuJob job, (long UsedBytes, long TotalBytes)? memory, Exception error)
        : base($"{device} ran out of memory in {job.Kind} of layer {job.Layer} ({job.Subject}): {FirstLine(error)}", error)
    {
        Job = job;
        Memory = memory;
    }

    /// <summary>The job that failed.</summary>
    public GpuJob Job { get; }

    /// <summary>Device memory in use and in total right after the failure; null on the CPU or when the query failed.</summary>
    public (long UsedBytes, long TotalBytes)? Memory { get; }

    /// <summary>The message for the coordinator.</summary>
    public DeviceOutOfMemory ToMessage(PlanId plan, DeviceId device, WorkPhase phase, int? wave) =>
        new(plan, device, phase, wave, Job.Subject, Memory?.UsedBytes, Memory?.TotalBytes, FirstLine(InnerException!));

    // libtorch appends advice and a C++ backtrace below the first line.
    private static string FirstLine(Exception error) => error.GetBaseException().Message.Split('\n')[0].Trim();
}
