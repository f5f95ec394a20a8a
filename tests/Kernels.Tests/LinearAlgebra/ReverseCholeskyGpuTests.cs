using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.LinearAlgebra;

/// <summary>The 3xTF32 path of <see cref="ReverseCholesky"/> (Cuda/RowProducts.cs), in halves and panel by panel, which the CPU tests cannot reach.</summary>
public class ReverseCholeskyGpuTests
{
    [GpuFact]
    public void Should_reproduce_the_matrix_to_fp32_accuracy_on_tensor_cores()
    {
        using var scope = NewDisposeScope();
        var cuda = new Device(DeviceType.CUDA, 0);
        foreach (var (n, panel, floor) in new[] { (1000, 128, int.MaxValue), (1000, 128, 256), (600, 256, int.MaxValue), (200, 256, int.MaxValue) })
        {
            var hessian = ReverseCholeskyTests.RandomSpd(3, n, seed: n);
            var r32 = hessian.to_type(ScalarType.Float32).to(cuda);

            var failed = ReverseCholesky.FactorInPlace(r32, panel, recursionFloor: floor);

            var r = r32.cpu().to_type(ScalarType.Float64);
            Assert.False(failed.any().item<bool>());
            Assert.Equal(0.0, r.tril(-1).abs().max().item<double>());
            var relative = ((r.bmm(r.transpose(1, 2)) - hessian).abs().max() / hessian.abs().max()).item<double>();
            Assert.True(relative < 1e-5, $"n {n}, floor {floor}: relative error {relative}");
        }
    }

    [GpuFact]
    public void Should_flag_only_the_matrix_that_is_not_positive_definite_on_cuda()
    {
        using var scope = NewDisposeScope();
        var cuda = new Device(DeviceType.CUDA, 0);
        var hessian = ReverseCholeskyTests.RandomSpd(3, 700, seed: 3).to_type(ScalarType.Float32).to(cuda);
        hessian[1, 650, 650] = tensor(-1e6f, device: cuda);

        var (_, _, _, ok) = HessianFactorization.FactorizeBatch(hessian, relDamp: 0.01);

        Assert.Equal(new[] { true, false, true }, ok.cpu().data<bool>().ToArray());
    }
}
