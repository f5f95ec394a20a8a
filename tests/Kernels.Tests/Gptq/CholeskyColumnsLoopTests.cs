using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Quantization;
using MoeQuant.Kernels.Tests.LinearAlgebra;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>
/// GPTQ on R's columns (<see cref="GptqLoopFactor.CholeskyColumns"/>, H + λI = R·Rᵀ, no inverse), the fused CUDA loop's
/// form: its factor against an fp64 Cholesky, and the torch loop run on it against the same loop on Û.
/// </summary>
public class CholeskyColumnsLoopTests
{
    private const double RelDamp = 0.01;

    [Theory]
    [InlineData(90)] // one panel
    [InlineData(600)] // several panels, the last narrow
    public void Should_give_minus_r_over_its_diagonal_by_columns_and_r_squared_loss_weights(int n)
    {
        using var scope = NewDisposeScope();
        var hessian = ReverseCholeskyTests.RandomSpd(2, n, seed: 3 * n).to_type(ScalarType.Float32);
        var damped = hessian.to_type(ScalarType.Float64);
        damped.diagonal(0, 1, 2).add_(damped.diagonal(0, 1, 2).mean([1], keepdim: true).mul(RelDamp));

        var (factor, lossWeight, _, ok) = HessianFactorization.FactorizeBatch(hessian.clone(), RelDamp, GptqLoopFactor.CholeskyColumns);

        // Reference: R = J·chol(J·H·J)·J in fp64 (H = R·Rᵀ, R upper), V = −R over its diagonal column by column.
        var r = linalg.cholesky(damped.flip(1, 2)).flip(1, 2);
        var diagonal = r.diagonal(0, 1, 2);
        var expected = -r / diagonal.unsqueeze(1);
        Assert.True(ok.all().item<bool>());
        var factorError = (factor.to_type(ScalarType.Float64) - expected).abs().max().item<double>();
        Assert.True(factorError < 1e-4 * expected.abs().max().item<double>(), $"factor error {factorError}");
        Assert.True(lossWeight.to_type(ScalarType.Float64).allclose(diagonal.square(), rtol: 1e-4));
        Assert.Equal(0f, factor.tril(-1).abs().max().item<float>());
    }

    [Theory]
    [InlineData(256, 32, 64)] // blocks inside groups
    [InlineData(200, 64, 40)] // blocks across groups, a short last block
    public void Should_quantize_as_the_inverse_factor_loop_when_errors_are_fed_against_the_original_weights(int columns, int block, int groupSize)
    {
        using var scope = NewDisposeScope();
        const int rows = 96;
        var hessian = ReverseCholeskyTests.RandomSpd(1, columns, seed: columns).to_type(ScalarType.Float32);
        var weight = randn(rows, columns, generator: new Generator(11));
        var spec = new QuantizerSpec(4, Symmetric: true, ScaleSearch.AbsMax, ScalarType.Float32, CodeRounding.HalfUp);
        var (scale, zero) = GroupQuantizer.Fit(weight.view(rows, columns / groupSize, groupSize), spec);
        ColumnGroups Groups() => ColumnGroups.FromStatic(scale.t().contiguous(), zero.t().contiguous(), groupSize, null, spec);
        var (inverseRows, _, _, _) = HessianFactorization.FactorizeBatch(hessian.clone(), RelDamp, GptqLoopFactor.InverseRows);
        var (choleskyColumns, _, _, _) = HessianFactorization.FactorizeBatch(hessian.clone(), RelDamp, GptqLoopFactor.CholeskyColumns);

        var viaInverse = GptqLoop.Run(weight.t().contiguous(), inverseRows[0], Groups(), spec, block);
        var viaCholesky = GptqLoop.Run(weight.t().contiguous(), choleskyColumns[0], Groups(), spec, block, original: weight.t().contiguous());
        var againstUpdated = GptqLoop.Run(weight.t().contiguous(), choleskyColumns[0], Groups(), spec, block);

        // Equal in exact arithmetic: fp32 rounding may flip a rare code (and its row's later ones), no more.
        var differing = viaCholesky.ne(viaInverse).to_type(ScalarType.Float64).mean().item<double>();
        Assert.True(differing < 0.005, $"{differing:P2} of codes differ");
        // Fed against the updated weights instead, R's columns are not GPTQ: the codes part ways.
        var control = againstUpdated.ne(viaInverse).to_type(ScalarType.Float64).mean().item<double>();
        Assert.True(control > 10 * Math.Max(differing, 0.001), $"fed against the updated weights: {control:P2} of codes differ (against the original: {differing:P2})");
    }
}
