using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.LinearAlgebra;

/// <summary>The CUDA paths of <see cref="ReverseCholesky"/> (3xTF32 products, Cuda/RowProducts.cs, in halves and panel by panel; the leaf kernel), which the CPU tests cannot reach.</summary>
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

    [GpuFact]
    public void Should_factor_and_invert_each_leaf_in_shared_memory_as_fp64_does()
    {
        using var scope = NewDisposeScope();
        var cuda = new Device(DeviceType.CUDA, 0);
        foreach (var w in new[] { 128, 77, 256 })
        {
            var block = ReverseCholeskyTests.RandomSpd(5, w, seed: w);
            var a = zeros(5, w + 64, w + 64, ScalarType.Float64); // the block sits inside a larger matrix, as a leaf does
            a.narrow(1, 32, w).narrow(2, 32, w).copy_(block);
            var work = a.to_type(ScalarType.Float32).to(cuda);
            var failed = zeros(5, ScalarType.Bool, cuda);
            var factor = empty(5, w, w, ScalarType.Float32, cuda);

            ReverseCholeskyLeaf.FactorAndInvert(work, 32, w, failed, factor);

            var r = linalg.cholesky(block.flip(1, 2)).flip(1, 2);
            var inverse = work.narrow(1, 32, w).narrow(2, 32, w).cpu().to_type(ScalarType.Float64);
            Assert.False(failed.any().item<bool>());
            Assert.True(((factor.cpu().to_type(ScalarType.Float64) - r).abs().max() / r.abs().max()).item<double>() < 1e-5, $"w {w}: factor");
            Assert.True(((inverse - linalg.inv(r)).abs().max() / linalg.inv(r).abs().max()).item<double>() < 1e-4, $"w {w}: inverse");
            Assert.Equal(0.0, inverse.tril(-1).abs().max().item<double>());
            // Outside the block nothing moved.
            work.narrow(1, 32, w).narrow(2, 32, w).zero_();
            a.narrow(1, 32, w).narrow(2, 32, w).zero_();
            Assert.True(work.cpu().eq(a.to_type(ScalarType.Float32)).all().item<bool>());
        }
    }
}
