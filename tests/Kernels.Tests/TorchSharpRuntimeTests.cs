using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests;

public class TorchSharpRuntimeTests
{
    [Fact]
    public void Should_factor_a_small_spd_matrix_with_libtorch()
    {
        // A = B Bᵀ + n I is symmetric positive definite; its Cholesky factor L must satisfy L Lᵀ = A.
        var b = tensor(new double[,] { { 2, -1, 0 }, { 1, 3, 1 }, { 0.5, 0, 4 } });
        var a = b.matmul(b.t()) + 3 * eye(3, dtype: ScalarType.Float64);
        var l = linalg.cholesky(a);
        var reconstructed = l.matmul(l.t());
        Assert.True((reconstructed - a).abs().max().item<double>() < 1e-12);
        Assert.Equal(0.0, l.triu(1).abs().max().item<double>());
    }

    [Fact]
    public void Should_report_no_cuda_without_throwing_on_a_cpu_machine()
    {
        // On CI there is no GPU: the query must answer instead of failing to load natives.
        var available = cuda.is_available();
        Assert.Equal(available, cuda.device_count() > 0);
    }
}
