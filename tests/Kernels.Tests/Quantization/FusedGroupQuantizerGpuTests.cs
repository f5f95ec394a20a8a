using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Quantization;

/// <summary><see cref="FusedGroupQuantizer"/> against the tensor operations it replaces on CUDA, bit for bit.</summary>
public class FusedGroupQuantizerGpuTests
{
    [GpuFact]
    public void Should_give_the_codes_and_values_of_the_tensor_operations()
    {
        using var scope = NewDisposeScope();
        var cuda = new Device(DeviceType.CUDA, 0);
        var (rows, groups, groupSize) = (96, 6, 32);
        var weight = randn(rows, groups * groupSize, generator: new Generator(5)).mul_(0.02).to(cuda);
        foreach (var spec in new[]
        {
            new QuantizerSpec(4, Symmetric: true, ScaleSearch.AbsMax, ScalarType.BFloat16, CodeRounding.HalfUp),
            new QuantizerSpec(3, Symmetric: false, ScaleSearch.AbsMax, ScalarType.Float16, CodeRounding.HalfEven),
        })
        {
            var (scale, zero) = GroupQuantizer.Fit(weight.view(rows, groups, groupSize), spec);
            var (s, z) = (scale.contiguous().view(rows, groups), zero.contiguous().view(rows, groups));
            var expectedCodes = GroupQuantizer.Quantize(weight.view(rows, groups, groupSize), s.unsqueeze(2), z.unsqueeze(2), spec);
            var expectedValues = GroupQuantizer.Dequantize(expectedCodes, s.unsqueeze(2), z.unsqueeze(2), spec).view(rows, -1);

            var (codes, values) = FusedGroupQuantizer.RoundToNearest(weight, s, z, spec);
            var dequantized = FusedGroupQuantizer.Dequantize(codes, s, z, spec);

            Assert.True(codes.to_type(ScalarType.Float32).eq(expectedCodes.view(rows, -1)).all().item<bool>());
            Assert.True(values.eq(expectedValues).all().item<bool>());
            Assert.True(dequantized.eq(expectedValues).all().item<bool>());
        }
    }
}
