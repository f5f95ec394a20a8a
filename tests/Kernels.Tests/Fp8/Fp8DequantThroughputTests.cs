using MoeQuant.Kernels.Fp8;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Fp8;

public class Fp8DequantThroughputTests
{
    [Fact]
    public void Should_report_positive_bandwidth_when_measured_on_the_cpu()
    {
        var result = Fp8DequantThroughput.Measure(CPU, rows: 256, cols: 384, iterations: 2);
        Assert.Equal("cpu", result.Device);
        Assert.Equal((256 * 384 * 3) + (2 * 3 * 4), result.BytesPerCall);
        Assert.True(result.GigabytesPerSecond > 0);
    }

    [GpuFact]
    public void Should_match_the_cpu_result_when_dequantized_on_cuda()
    {
        // Codes below 0x7F: every finite positive value and no NaN, so equality is exact.
        using var weight = randint(0, 0x7F, [300, 260], ScalarType.Byte);
        using var scale = rand(Fp8BlockDequantizer.ScaleShape(300, 260), ScalarType.Float32);
        using var onCpu = Fp8BlockDequantizer.Dequantize(weight, scale, ScalarType.Float32);
        using var onGpu = Fp8BlockDequantizer.Dequantize(weight, scale, ScalarType.Float32, device: CUDA);
        Assert.Equal(DeviceType.CUDA, onGpu.device_type);
        using var back = onGpu.cpu();
        Assert.True(onCpu.Equals(back));
    }
}
