using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Fp8;

/// <summary>
/// One FP8 dequantization throughput measurement.
/// </summary>
/// <param name="Device">The device it ran on, e.g. "cuda:0" or "cpu".</param>
/// <param name="Rows">Weight rows.</param>
/// <param name="Cols">Weight columns.</param>
/// <param name="OutputType">Result type.</param>
/// <param name="Iterations">Timed calls (after one untimed warm-up call).</param>
/// <param name="SecondsPerCall">Mean wall time of one call, device synchronized.</param>
/// <param name="BytesPerCall">Bytes a call must move at least: FP8 codes and f32 scales read, the result written.</param>
public sealed record Fp8DequantThroughput(
    string Device, long Rows, long Cols, ScalarType OutputType, int Iterations, double SecondsPerCall, long BytesPerCall)
{
    /// <summary>Effective bandwidth, 10^9 bytes per second (compare with the device's memory bandwidth).</summary>
    public double GigabytesPerSecond => BytesPerCall / SecondsPerCall / 1e9;

    /// <summary>
    /// Times <see cref="Fp8BlockDequantizer.DequantizeInto"/> into one reused result (the steady state of a loader that
    /// recycles its buffer) on random codes of a [rows, cols] weight already on <paramref name="device"/>; NaN codes are
    /// included, as in real data they are just bytes. Prints nothing; the caller reports.
    /// Default shape: DeepSeek-V3's dense gate_proj, [18432, 7168].
    /// </summary>
    public static Fp8DequantThroughput Measure(
        Device device, long rows = 18432, long cols = 7168, int iterations = 20, ScalarType outputType = ScalarType.BFloat16)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(iterations);
        using var scope = NewDisposeScope();
        var weight = randint(0, 256, [rows, cols], ScalarType.Byte, device);
        var scaleShape = Fp8BlockDequantizer.ScaleShape(rows, cols);
        var scale = rand(scaleShape, ScalarType.Float32, device);
        var result = empty([rows, cols], outputType, device);

        Fp8BlockDequantizer.DequantizeInto(weight, scale, result);
        Cuda.DeviceTimer.Synchronize(device);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
        {
            Fp8BlockDequantizer.DequantizeInto(weight, scale, result);
        }

        Cuda.DeviceTimer.Synchronize(device);
        var seconds = clock.Elapsed.TotalSeconds / iterations;
        var bytes = (rows * cols * (1 + outputType.ElementSize())) + (scaleShape[0] * scaleShape[1] * sizeof(float));
        return new Fp8DequantThroughput(device.ToString(), rows, cols, outputType, iterations, seconds, bytes);
    }
}
