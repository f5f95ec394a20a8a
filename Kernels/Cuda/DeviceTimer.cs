using System.Diagnostics;
using TorchSharp;

namespace MoeQuant.Kernels.Cuda;

/// <summary>Wall-clock timing of device work: synchronises before and after each repetition so queued kernels are counted.</summary>
public static class DeviceTimer
{
    /// <summary>Median milliseconds of <paramref name="repetitions"/> runs after <paramref name="warmup"/> unmeasured ones.</summary>
    public static double MedianMilliseconds(torch.Device device, Action work, int warmup = 2, int repetitions = 7)
    {
        for (var i = 0; i < warmup; i++)
        {
            work();
        }

        var times = new double[repetitions];
        for (var i = 0; i < repetitions; i++)
        {
            Synchronize(device);
            var clock = Stopwatch.StartNew();
            work();
            Synchronize(device);
            times[i] = clock.Elapsed.TotalMilliseconds;
        }

        Array.Sort(times);
        return times[repetitions / 2];
    }

    /// <summary>Waits for queued work on a CUDA device; a no-op on the CPU.</summary>
    public static void Synchronize(torch.Device device)
    {
        if (device.type == DeviceType.CUDA)
        {
            torch.cuda.synchronize(device);
        }
    }
}
