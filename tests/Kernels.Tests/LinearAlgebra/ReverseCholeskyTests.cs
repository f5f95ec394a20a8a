using MoeQuant.Kernels.LinearAlgebra;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.LinearAlgebra;

public class ReverseCholeskyTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(40, 64, 2, int.MaxValue)] // n < P: one panel, no trailing update
    [InlineData(200, 64, 2, int.MaxValue)] // n not a multiple of P: a narrow first panel, a truncated last slab
    [InlineData(256, 64, 1, int.MaxValue)] // n a multiple of P, one-panel slabs
    [InlineData(230, 32, 3, int.MaxValue)] // slabs of three panels over trailing blocks of every residue
    [InlineData(600, 256, 2, int.MaxValue)] // the default panel
    [InlineData(230, 32, 2, 64)] // halves above 64 (solves split in halves too), panels below, a narrow last leaf
    [InlineData(512, 32, 1, 32)] // halves all the way down to the panels
    [InlineData(600, 64, 2, 200)] // halves of uneven widths
    [InlineData(600, 256, 1, int.MaxValue, 64)] // panels of four leaves, split in halves; a narrow last panel
    [InlineData(700, 128, 2, int.MaxValue, 32)] // leaves of 32, a last panel of 60: a narrow last leaf
    public void Should_reproduce_the_matrix_as_r_times_r_transposed_with_r_upper(int n, int panel, int slabPanels, int recursionFloor, int? leaf = null)
    {
        using var scope = NewDisposeScope();
        var hessian = RandomSpd(3, n, seed: n);
        var r32 = hessian.to_type(ScalarType.Float32);

        var failed = ReverseCholesky.FactorInPlace(r32, panel, slabPanels, recursionFloor: recursionFloor, leaf: leaf);

        var r = r32.to_type(ScalarType.Float64);
        Assert.False(failed.any().item<bool>());
        Assert.Equal(0.0, r.tril(-1).abs().max().item<double>());
        Assert.True(r.diagonal(dim1: 1, dim2: 2).min().item<double>() > 0);
        var reconstructed = r.bmm(r.transpose(1, 2));
        var relative = ((reconstructed - hessian).abs().amax([1, 2]) / hessian.abs().amax([1, 2])).max().item<double>();
        Assert.True(relative < 1e-5, $"relative error {relative}");

        // The factor is unique, so it must equal the textbook one, J·chol(J·H·J)·J in fp64, not merely reconstruct H.
        var textbook = linalg.cholesky(hessian.flip(1, 2)).flip(1, 2);
        var distance = ((r - textbook).abs().max() / textbook.abs().max()).item<double>();
        Assert.True(distance < 1e-4, $"distance to the fp64 factor {distance}");
    }

    [Theory]
    [InlineData(int.MaxValue)] // one panel at a time
    [InlineData(64)] // halves above 64
    public void Should_leave_the_inverses_of_its_diagonal_blocks_when_asked_and_the_rest_of_r_unchanged(int recursionFloor)
    {
        using var scope = NewDisposeScope();
        const int n = 200;
        const int panel = 64; // blocks [0, 64), [64, 128), [128, 192), [192, 200)
        var hessian = RandomSpd(2, n, seed: 3);
        var r = hessian.clone();
        var mixed = hessian.clone();

        ReverseCholesky.FactorInPlace(r, panel, recursionFloor: recursionFloor);
        ReverseCholesky.FactorInPlace(mixed, panel, invertDiagonalBlocks: true, recursionFloor: recursionFloor);

        for (var start = 0; start < n; start += panel)
        {
            var width = Math.Min(panel, n - start);
            var block = r.narrow(1, start, width).narrow(2, start, width);
            var expected = linalg.inv(block);
            var actual = mixed.narrow(1, start, width).narrow(2, start, width);
            Assert.True(actual.allclose(expected, rtol: 1e-9, atol: 1e-12), $"diagonal block at {start}");
            block.copy_(actual); // the rest must be R's
        }

        Assert.True(mixed.allclose(r, rtol: 1e-12, atol: 0));
    }

    [Fact]
    public void Should_be_exact_to_fp64_rounding_for_fp64_input()
    {
        using var scope = NewDisposeScope();
        var hessian = RandomSpd(2, 150, seed: 11);
        var r = hessian.clone();

        ReverseCholesky.FactorInPlace(r, panel: 32, recursionFloor: 64);

        var relative = ((r.bmm(r.transpose(1, 2)) - hessian).abs().max() / hessian.abs().max()).item<double>();
        Assert.True(relative < 1e-13, $"relative error {relative}");
    }

    [Fact]
    public void Should_flag_a_matrix_that_is_not_positive_definite_and_leave_the_others_untouched()
    {
        using var scope = NewDisposeScope();
        var hessian = RandomSpd(3, 200, seed: 5).to_type(ScalarType.Float32);
        hessian[1, 10, 10] = tensor(-1e6f); // a top-left pivot: met by the last panel, after every trailing update
        var good = stack([hessian[0], hessian[2]]);

        var failed = ReverseCholesky.FactorInPlace(hessian, panel: 64, recursionFloor: 64);
        ReverseCholesky.FactorInPlace(good, panel: 64, recursionFloor: 64);

        Assert.Equal(new[] { false, true, false }, failed.data<bool>().ToArray());
        Assert.True(hessian[0].eq(good[0]).all().item<bool>());
        Assert.True(hessian[2].eq(good[1]).all().item<bool>());
    }

    [Theory]
    [InlineData(1024)] // halves down to 1024, then panels
    [InlineData(int.MaxValue)] // the default: one panel at a time throughout
    [InlineData(256)] // halves down to the panels
    public void Should_issue_little_more_than_the_upper_triangles_in_trailing_products(int recursionFloor)
    {
        // GPTQ's largest shape: C = 7168 with the default panels and slabs. The trailing updates need the upper triangle
        // of A11 once per split, Σ r·h·(h + 1): most of the Cholesky's n³/3 one panel at a time (the panels' own halves
        // and leaves do the rest), half of it in halves (the solves do the rest); slabs add up to a quarter.
        const double n = 7168;
        var (issued, triangle) = ReverseCholesky.TrailingFlops(7168, recursionFloor: recursionFloor);
        var cholesky = n * n * n / 3;
        output.WriteLine($"issued {issued / cholesky:F3}·n³/3, {issued / triangle:F3} of the exact triangles");

        Assert.InRange(triangle / cholesky, recursionFloor > 7168 ? 0.85 : 0.45, recursionFloor > 7168 ? 1.0 : 0.55);
        Assert.InRange(issued / triangle, 1.0, 1.25);
    }

    [Fact]
    public void Should_count_workspace_from_the_largest_products_bands_and_the_panel()
    {
        // CUDA, one panel at a time (the default): the first split peels the last panel, two band copies of the
        // (n − P) × P block above it (24·h·r bytes), and six L×L blocks.
        Assert.Equal((24L * 6656 * 512) + (24L * 128 * 128), ReverseCholesky.WorkspaceBytesPerMatrix(7168, cuda: true));
        // In halves above 1024: the top split's two band copies.
        Assert.Equal((24L * 3584 * 3584) + (24L * 128 * 128), ReverseCholesky.WorkspaceBytesPerMatrix(7168, cuda: true, recursionFloor: 1024));
        Assert.Equal(24L * 40 * 40, ReverseCholesky.WorkspaceBytesPerMatrix(40, cuda: false));
    }

    internal static Tensor RandomSpd(int batch, int n, int seed)
    {
        var generator = new Generator((ulong)seed);
        var x = randn(batch, 4 * n, n, dtype: ScalarType.Float64, generator: generator);
        var h = x.transpose(1, 2).bmm(x) / (4.0 * n);
        return h + 0.01 * eye(n, dtype: ScalarType.Float64);
    }
}
