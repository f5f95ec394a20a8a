using MoeQuant.Kernels.Fp8;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Bench;

/// <summary>FP8 block dequantization throughput on the GPU beside a plain device-to-device copy of the same bytes (the memory-bandwidth ceiling), same run.</summary>
internal static class Fp8Benchmark
{
    public static void Run(BenchRecorder recorder, int device)
    {
        var cuda = new Device(DeviceType.CUDA, device);
        foreach (var output in new[] { ScalarType.BFloat16, ScalarType.Float32 })
        {
            var measured = Fp8DequantThroughput.Measure(cuda, outputType: output);
            using var scope = NewDisposeScope();
            var source = empty(measured.BytesPerCall / 2, dtype: ScalarType.Byte, device: cuda);
            var target = empty_like(source);
            var copyMs = Kernels.Cuda.DeviceTimer.MedianMilliseconds(cuda, () => target.copy_(source));
            var copyGbps = 2.0 * source.numel() / copyMs / 1e6; // read + write
            recorder.Record(
                "fp8-dequantize",
                new { measured.Rows, measured.Cols, output = output.ToString(), baseline = "device-to-device copy of the same byte count (read + write)" },
                new { gigabytesPerSecond = measured.GigabytesPerSecond, copyGigabytesPerSecond = copyGbps, fractionOfCopy = measured.GigabytesPerSecond / copyGbps, equalToCpu = EqualToCpu(cuda, output) });
        }
    }

    // The GPU kernel against the CPU path on the same codes (partial edge blocks included): every value, NaN codes too.
    private static bool EqualToCpu(Device cuda, ScalarType output)
    {
        using var scope = NewDisposeScope();
        var codes = randint(0, 256, [576, 7200], ScalarType.Byte);
        var scale = rand(Fp8BlockDequantizer.ScaleShape(576, 7200), ScalarType.Float32);
        var cpu = Fp8BlockDequantizer.Dequantize(codes, scale, output);
        var gpu = Fp8BlockDequantizer.Dequantize(codes.to(cuda), scale.to(cuda), output).cpu();
        return (cpu.eq(gpu) | (cpu.isnan() & gpu.isnan())).all().item<bool>();
    }
}
