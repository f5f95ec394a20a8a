using MoeQuant.Kernels.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Bench;

/// <summary>3xTF32 batched products beside plain fp32 ones (TF32 off), same inputs, same run: speed and error against fp64.</summary>
internal static class MatmulBenchmark
{
    public static void Run(BenchRecorder recorder, int device)
    {
        var cuda = new Device(DeviceType.CUDA, device);
        backends.cuda.matmul.allow_tf32 = false;
        foreach (var (batch, size) in new[] { (4, 4096), (32, 1024) })
        {
            using var scope = NewDisposeScope();
            var a = randn(batch, size, size, device: cuda);
            var b = randn(batch, size, size, device: cuda);
            var fp32Ms = DeviceTimer.MedianMilliseconds(cuda, () => a.bmm(b));
            var oursMs = DeviceTimer.MedianMilliseconds(cuda, () => Tf32x3Matmul.Bmm(a, b));
            var reference = a.to_type(ScalarType.Float64).bmm(b.to_type(ScalarType.Float64));
            double Error(Tensor c) => ((c.to_type(ScalarType.Float64) - reference).abs().max() / reference.abs().max()).item<double>();
            var flop = 2.0 * batch * size * size * size;
            recorder.Record(
                "matmul-3xtf32",
                new { batch, size, baseline = "torch fp32 bmm, TF32 off" },
                new { oursMs, oursTflops = flop / oursMs / 1e9, fp32Ms, fp32Tflops = flop / fp32Ms / 1e9, speedup = fp32Ms / oursMs, oursMaxRelativeError = Error(Tf32x3Matmul.Bmm(a, b)), fp32MaxRelativeError = Error(a.bmm(b)) });
        }
    }
}
