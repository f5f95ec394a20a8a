using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.LinearAlgebra;
using MoeQuant.Kernels.Tests.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>
/// <see cref="HessianFactorization.FactorizeBatch"/> in place (reverse Cholesky, then the triangular inverse), checked
/// against Û built independently in fp64 from torch's inverse and Cholesky, and against the recursive InverseCholesky.
/// </summary>
public class InPlaceFactorizationTests
{
    private const double RelDamp = 0.01;

    [Theory]
    [InlineData(90)] // one panel
    [InlineData(600)] // three panels, the last narrow
    [InlineData(1100)] // two levels of the inverse's recursion
    public void Should_give_the_factor_and_loss_weights_of_the_fp64_reference(int n)
    {
        using var scope = NewDisposeScope();
        var hessian = ReverseCholeskyTests.RandomSpd(2, n, seed: 7 * n).to_type(ScalarType.Float32);
        var damped = Damped(hessian);

        var (factor, lossWeight, damping, ok) = HessianFactorization.FactorizeBatch(hessian.clone(), RelDamp);

        // Reference: U = chol_upper((H + λI)⁻¹) in fp64, Û = rows of U over their diagonal, c_j = 1/U_jj².
        var u = linalg.cholesky(linalg.inv(damped)).transpose(1, 2);
        var diagonal = u.diagonal(0, 1, 2);
        var expected = u / diagonal.unsqueeze(2);
        Assert.True(ok.all().item<bool>());
        var factorError = (factor.to_type(ScalarType.Float64) - expected).abs().max().item<double>();
        var weightError = ((lossWeight.to_type(ScalarType.Float64) - diagonal.square().reciprocal()).abs() * diagonal.square()).max().item<double>();
        Assert.True(factorError < 2e-4 * expected.abs().max().item<double>(), $"factor error {factorError}");
        Assert.True(weightError < 1e-4, $"loss weight relative error {weightError}");
        Assert.Equal(0f, factor.tril(-1).abs().max().item<float>());
        var expectedDamping = hessian.diagonal(0, 1, 2).mean([1]).mul(RelDamp);
        Assert.True(damping.allclose(expectedDamping, rtol: 1e-6));
    }

    [Fact]
    public void Should_agree_with_the_recursive_factorization()
    {
        using var scope = NewDisposeScope();
        var hessian = ReverseCholeskyTests.RandomSpd(3, 700, seed: 5).to_type(ScalarType.Float32);

        var (inPlace, inPlaceWeight, _, inPlaceOk) = HessianFactorization.FactorizeBatch(hessian.clone(), RelDamp);
        var damped = Damped(hessian).to_type(ScalarType.Float32);
        var recursiveUpper = InverseCholesky.UpperFactorOfInverse(damped);
        var recursiveDiagonal = recursiveUpper.diagonal(0, 1, 2);
        var recursive = recursiveUpper / recursiveDiagonal.unsqueeze(2);

        Assert.True(inPlaceOk.all().item<bool>());
        var factorError = (inPlace - recursive).abs().max().item<float>();
        Assert.True(factorError < 2e-4 * recursive.abs().max().item<float>(), $"factor difference {factorError}");
        Assert.True(inPlaceWeight.allclose(recursiveDiagonal.square().reciprocal(), rtol: 1e-4));
    }

    [Fact]
    public void Should_flag_a_matrix_that_is_not_positive_definite_and_factor_the_others()
    {
        using var scope = NewDisposeScope();
        var hessian = ReverseCholeskyTests.RandomSpd(3, 300, seed: 9).to_type(ScalarType.Float32);
        hessian[0, 290, 290] = tensor(-1e6f); // a bottom-right pivot: met by the first panel, so NaN would reach the rest
        var good = stack([hessian[1], hessian[2]]);

        var (factor, lossWeight, _, ok) = HessianFactorization.FactorizeBatch(hessian, RelDamp);
        var (goodFactor, goodWeight, _, goodOk) = HessianFactorization.FactorizeBatch(good, RelDamp);

        Assert.Equal(new[] { false, true, true }, ok.data<bool>().ToArray());
        Assert.True(goodOk.all().item<bool>());
        Assert.True(factor.narrow(0, 1, 2).eq(goodFactor).all().item<bool>());
        Assert.True(lossWeight.narrow(0, 1, 2).eq(goodWeight).all().item<bool>());
    }

    [Theory]
    [InlineData(100, 16)] // halves that are not multiples of 64, leaves of different widths
    [InlineData(700, 256)] // the default leaf, aligned halves
    public void Should_invert_upper_triangular_matrices_in_place(int n, int leafSize)
    {
        using var scope = NewDisposeScope();
        var r = linalg.cholesky(ReverseCholeskyTests.RandomSpd(2, n, seed: n)).transpose(1, 2).contiguous();
        var inverse = r.clone();

        UpperTriangularInverse.InvertInPlace(inverse, leafSize: leafSize);

        var identity = eye(n, dtype: ScalarType.Float64).expand(2, n, n);
        var error = (r.bmm(inverse) - identity).abs().max().item<double>();
        Assert.True(error < 1e-9, $"R·R⁻¹ differs from I by {error}");
        Assert.Equal(0.0, inverse.tril(-1).abs().max().item<double>());
    }

    // (E, n, n) fp32 damped as FactorizeBatch damps (fp32, per matrix), returned in fp64.
    private static Tensor Damped(Tensor hessian)
    {
        var damped = hessian.clone();
        for (var e = 0; e < damped.shape[0]; e++)
        {
            damped[e].diagonal().add_(damped[e].diagonal().mean().mul(RelDamp));
        }

        return damped.to_type(ScalarType.Float64);
    }
}
