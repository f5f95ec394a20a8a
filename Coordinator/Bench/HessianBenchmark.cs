using MoeQuant.Kernels.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Bench;

/// <summary>
/// Expert Hessian accumulation H += XᵀX at DeepSeek-V3 widths: our bf16→fp32 tensor-core product beside MoE-Quant's
/// fp32 addmm (TF32 off), same inputs, same run; plus the exactness of ours against an fp64 product.
/// </summary>
internal static class HessianBenchmark
{
    public static void Run(BenchRecorder recorder, int device, int tokens)
    {
        var cuda = new Device(DeviceType.CUDA, device);
        backends.cuda.matmul.allow_tf32 = false;
        foreach (var columns in new[] { 7168, 2048 })
        {
            using var scope = NewDisposeScope();
            var x = randn(tokens, columns, dtype: ScalarType.BFloat16, device: cuda);
            var h = zeros(columns, columns, dtype: ScalarType.Float32, device: cuda);
            var flop = 2.0 * tokens * columns * columns;

            var oursMs = DeviceTimer.MedianMilliseconds(cuda, () => CublasGram.Accumulate(x, h, 1f));
            var xf = x.to_type(ScalarType.Float32);
            var baselineMs = DeviceTimer.MedianMilliseconds(cuda, () => h.addmm_(xf.t(), xf));

            recorder.Record(
                "hessian-accumulate",
                new { columns, tokens, input = "bf16 randn", baseline = "torch fp32 addmm, TF32 off (MoE-Quant)" },
                new
                {
                    oursMs,
                    oursTflops = flop / oursMs / 1e9,
                    baselineMs,
                    baselineTflops = flop / baselineMs / 1e9,
                    speedup = baselineMs / oursMs,
                    maxRelativeErrorVsFp64 = ExactnessCheck(cuda, columns),
                });
        }
    }

    // On 4096 tokens: every product of two bf16 values is exact in fp32, so only fp32 summation order separates us from fp64.
    private static double ExactnessCheck(Device cuda, int columns)
    {
        using var scope = NewDisposeScope();
        var x = randn(4096, columns, dtype: ScalarType.BFloat16, device: cuda);
        var h = zeros(columns, columns, dtype: ScalarType.Float32, device: cuda);
        CublasGram.Accumulate(x, h, 1f);
        var xd = x.to_type(ScalarType.Float64);
        var reference = xd.t().matmul(xd);
        return ((h.to_type(ScalarType.Float64) - reference).abs().max() / reference.abs().max()).item<double>();
    }
}
