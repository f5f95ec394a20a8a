using MoeQuant.Kernels.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.LinearAlgebra;

/// <summary>The 3xTF32 path of <see cref="RecursiveFactorInverse"/> (Cuda/TriangularProducts.cs), which the CPU tests cannot reach.</summary>
public class RecursiveFactorInverseGpuTests
{
    [GpuFact]
    public void Should_give_the_upper_factor_of_the_inverse_to_fp32_accuracy_on_tensor_cores()
    {
        using var scope = NewDisposeScope();
        var cuda = new Device(DeviceType.CUDA, 0);
        foreach (var (n, leaf) in new[] { (1000, 128), (600, 256), (200, 256) })
        {
            var hessian = RecursiveFactorInverseTests.RandomSpd(3, n, seed: n);
            var expected = linalg.cholesky(linalg.inv(hessian)).transpose(1, 2);
            var factor = hessian.to_type(ScalarType.Float32).to(cuda);

            var failed = RecursiveFactorInverse.FactorInPlace(factor, leafSize: leaf);

            Assert.False(failed.any().item<bool>());
            var relative = ((factor.cpu().to_type(ScalarType.Float64) - expected).abs().max() / expected.abs().max()).item<double>();
            Assert.True(relative < 1e-4, $"n {n}: relative error {relative}");
            Assert.Equal(0f, factor.tril(-1).abs().max().item<float>());
        }
    }
}
