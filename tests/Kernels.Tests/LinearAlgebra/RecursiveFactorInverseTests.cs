using MoeQuant.Kernels.LinearAlgebra;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.LinearAlgebra;

/// <summary>
/// <see cref="RecursiveFactorInverse"/> on the CPU, against U built independently in fp64 from torch's inverse and
/// Cholesky: U upper with H⁻¹ = UᵀU.
/// </summary>
public class RecursiveFactorInverseTests
{
    [Theory]
    [InlineData(40, 64)]    // one leaf
    [InlineData(200, 64)]   // a narrow last leaf
    [InlineData(256, 64)]   // whole leaves, two levels
    [InlineData(600, 256)]  // the default leaf
    [InlineData(1100, 256)] // three levels of recursion, a narrow last leaf
    public void Should_give_the_upper_factor_of_the_inverse(int n, int leaf)
    {
        using var scope = NewDisposeScope();
        var hessian = RandomSpd(3, n, seed: n + leaf);
        var expected = Reference(hessian);
        var fp64 = hessian.clone();
        var fp32 = hessian.to_type(ScalarType.Float32);

        var failed64 = RecursiveFactorInverse.FactorInPlace(fp64, leafSize: leaf);
        var failed32 = RecursiveFactorInverse.FactorInPlace(fp32, leafSize: leaf);

        Assert.False(failed64.any().item<bool>());
        Assert.False(failed32.any().item<bool>());
        Assert.True(Relative(fp64, expected) < 1e-10, $"fp64 error {Relative(fp64, expected)}");
        Assert.True(Relative(fp32.to_type(ScalarType.Float64), expected) < 1e-4, $"fp32 error {Relative(fp32.to_type(ScalarType.Float64), expected)}");
        Assert.Equal(0f, fp32.tril(-1).abs().max().item<float>()); // zeros below, exactly
    }

    [Fact]
    public void Should_read_only_the_upper_triangle()
    {
        using var scope = NewDisposeScope();
        var hessian = RandomSpd(2, 300, seed: 9);
        var clean = hessian.clone();
        var poisoned = hessian.clone();
        poisoned.masked_fill_(ones(300, 300, ScalarType.Bool).tril(-1), double.NaN);

        RecursiveFactorInverse.FactorInPlace(clean, leafSize: 64);
        RecursiveFactorInverse.FactorInPlace(poisoned, leafSize: 64);

        Assert.True(poisoned.eq(clean).all().item<bool>());
    }

    [Fact]
    public void Should_flag_a_matrix_that_is_not_positive_definite_and_leave_the_others_as_alone()
    {
        using var scope = NewDisposeScope();
        var hessian = RandomSpd(3, 200, seed: 5);
        hessian[1, 10, 10] = tensor(-1e6); // a top-left pivot: met by the last leaf, after every update
        var good = stack([hessian[0], hessian[2]]);

        var failed = RecursiveFactorInverse.FactorInPlace(hessian, leafSize: 64);
        RecursiveFactorInverse.FactorInPlace(good, leafSize: 64);

        Assert.Equal([false, true, false], failed.data<bool>().ToArray());
        Assert.True(hessian[0].eq(good[0]).all().item<bool>());
        Assert.True(hessian[2].eq(good[1]).all().item<bool>());
    }

    [Fact]
    public void Should_count_the_top_levels_bands_as_workspace()
    {
        // 7168 = 3584 + 3584: bands of the 3584 × 3584 triangle and of the 3584 × 3584 block, three floats per value each.
        Assert.Equal(12L * ((3584L * 3584) + (3584L * 3584)), RecursiveFactorInverse.WorkspaceBytesPerMatrix(7168, cuda: true));
        Assert.Equal(16L * 100 * 100, RecursiveFactorInverse.WorkspaceBytesPerMatrix(100, cuda: false));
    }

    /// <summary>Random symmetric positive definite matrices, (batch, n, n) fp64, condition number of a calibration Hessian's order.</summary>
    internal static Tensor RandomSpd(int batch, int n, int seed)
    {
        var generator = new Generator((ulong)seed);
        var x = randn(batch, 4 * n, n, dtype: ScalarType.Float64, generator: generator);
        var h = x.transpose(1, 2).bmm(x) / (4.0 * n);
        return h + 0.01 * eye(n, dtype: ScalarType.Float64);
    }

    // U upper with H⁻¹ = UᵀU, from torch's fp64 inverse and lower Cholesky: H⁻¹ = L·Lᵀ gives U = Lᵀ.
    private static Tensor Reference(Tensor hessian) => linalg.cholesky(linalg.inv(hessian)).transpose(1, 2);

    private static double Relative(Tensor actual, Tensor expected) =>
        ((actual - expected).abs().max() / expected.abs().max()).item<double>();
}
