using MoeQuant.Kernels.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.LinearAlgebra;

public class InverseCholeskyTests
{
    [Theory]
    [InlineData(1, 40)] // a single leaf
    [InlineData(2, 600)] // recursion with uneven halves (600 → 256 + 344 → ...)
    public void Should_give_the_upper_factor_of_the_inverse_when_the_matrix_is_spd(int batch, int n)
    {
        using var scope = NewDisposeScope();
        var hessian = RandomSpd(batch, n, seed: n);

        var u = InverseCholesky.UpperFactorOfInverse(hessian.to_type(ScalarType.Float32)).to_type(ScalarType.Float64);

        // Reference in fp64 by the textbook route: H⁻¹ = UᵀU and U upper triangular with a positive diagonal.
        var inverse = linalg.inv(hessian);
        var reconstructed = u.transpose(1, 2).bmm(u);
        var relative = (reconstructed - inverse).abs().max() / inverse.abs().max();
        Assert.True(relative.item<double>() < 1e-4, $"relative error {relative.item<double>()}");
        Assert.Equal(0.0, u.tril(-1).abs().max().item<double>());
        Assert.True(u.diagonal(dim1: 1, dim2: 2).min().item<double>() > 0);

        // The Cholesky factor is unique, so it must equal the textbook one, not merely reconstruct H⁻¹.
        var textbook = linalg.cholesky(inverse).transpose(1, 2);
        Assert.True(((u - textbook).abs().max() / textbook.abs().max()).item<double>() < 1e-4);
    }

    [Fact]
    public void Should_accept_an_unbatched_matrix_and_keep_its_shape()
    {
        using var scope = NewDisposeScope();
        var hessian = RandomSpd(1, 300, seed: 3)[0].to_type(ScalarType.Float32);

        var u = InverseCholesky.UpperFactorOfInverse(hessian);

        Assert.Equal(new long[] { 300, 300 }, u.shape);
        Assert.True(u.is_contiguous());
    }

    [Fact]
    public void Should_throw_when_a_matrix_is_not_positive_definite()
    {
        using var scope = NewDisposeScope();
        var hessian = RandomSpd(2, 300, seed: 5).to_type(ScalarType.Float32);
        hessian[1, 290, 290] = tensor(-1e6f); // breaks a trailing leading minor of the second matrix only

        Assert.Throws<NotPositiveDefiniteException>(() => InverseCholesky.UpperFactorOfInverse(hessian));
    }

    private static Tensor RandomSpd(int batch, int n, int seed)
    {
        var generator = new Generator((ulong)seed);
        var x = randn(batch, 4 * n, n, dtype: ScalarType.Float64, generator: generator);
        var h = x.transpose(1, 2).bmm(x) / (4.0 * n);
        return h + 0.01 * eye(n, dtype: ScalarType.Float64);
    }
}
