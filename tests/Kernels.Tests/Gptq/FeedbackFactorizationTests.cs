using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Quantization;
using MoeQuant.Kernels.Tests.LinearAlgebra;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>
/// <see cref="HessianFactorization.FactorizeBatchFeedback"/>: the LDL (Babai nearest-plane) form of GPTQ, checked against
/// an fp64 factor built independently and, through a per-column loop written here, against the Û path's codes and loss.
/// </summary>
public class FeedbackFactorizationTests(ITestOutputHelper output)
{
    private const double RelDamp = 0.01;

    [Theory]
    [InlineData(90, 32)] // several panels, n not a multiple of P
    [InlineData(300, 256)] // the default panel width
    public void Should_give_the_factor_and_loss_weights_of_the_fp64_reference(int n, int panel)
    {
        using var scope = NewDisposeScope();
        var hessian = ReverseCholeskyTests.RandomSpd(3, n, seed: 7 * n).to_type(ScalarType.Float32);
        var damped = Damped(hessian);

        var (factor, lossWeight, _, ok) = HessianFactorization.FactorizeBatchFeedback(hessian.clone(), RelDamp, panel: panel);

        // Reference: R = J·chol(J·H·J)·J in fp64, F[i, k] = −R_ik / R_kk with a unit diagonal, c_k = R_kk².
        var r = linalg.cholesky(damped.flip(1, 2)).flip(1, 2);
        var diagonal = r.diagonal(0, 1, 2);
        var expected = (-r / diagonal.unsqueeze(1)).triu(1) + eye(n, dtype: ScalarType.Float64);
        Assert.True(ok.all().item<bool>());
        var factorError = (factor.to_type(ScalarType.Float64) - expected).abs().max().item<double>();
        var weightError = ((lossWeight.to_type(ScalarType.Float64) - diagonal.square()).abs() / diagonal.square()).max().item<double>();
        Assert.True(factorError < 1e-5 * expected.abs().max().item<double>(), $"factor error {factorError}");
        Assert.True(weightError < 1e-5, $"loss weight relative error {weightError}");
        Assert.Equal(0f, factor.tril(-1).abs().max().item<float>());
    }

    [Fact]
    public void Should_flag_a_matrix_that_is_not_positive_definite_and_factor_the_others()
    {
        using var scope = NewDisposeScope();
        var hessian = ReverseCholeskyTests.RandomSpd(3, 120, seed: 9).to_type(ScalarType.Float32);
        hessian[0, 100, 100] = tensor(-1e6f); // a bottom-right pivot: met by the first panel, so NaN would reach the rest
        var good = stack([hessian[1], hessian[2]]);

        var (factor, lossWeight, _, ok) = HessianFactorization.FactorizeBatchFeedback(hessian, RelDamp, panel: 32);
        var (goodFactor, goodWeight, _, goodOk) = HessianFactorization.FactorizeBatchFeedback(good, RelDamp, panel: 32);

        Assert.Equal(new[] { false, true, true }, ok.data<bool>().ToArray());
        Assert.True(goodOk.all().item<bool>());
        Assert.True(factor.narrow(0, 1, 2).eq(goodFactor).all().item<bool>());
        Assert.True(lossWeight.narrow(0, 1, 2).eq(goodWeight).all().item<bool>());
    }

    [Fact]
    public void Should_give_the_codes_and_loss_of_gptq_when_the_ldl_loop_uses_it()
    {
        using var scope = NewDisposeScope();
        var (rows, columns, groupSize) = (64, 256, 32);
        var generator = new Generator(2024);
        var tokens = randn(1024, columns, generator: generator);
        var hessian = tokens.t().matmul(tokens).mul_(2.0 / 1024); // 4 tokens a column: well conditioned
        var weight = randn(rows, columns, generator: generator).mul_(0.02);
        var spec = new QuantizerSpec(4, Symmetric: true, ScaleSearch.AbsMax, ScalarType.BFloat16, CodeRounding.HalfEven);
        var groups = ColumnGroups.Static(weight, groupSize, spec);

        // The Û path: the single-matrix factorization and the CPU column loop, as Gptq.Quantize runs them.
        var (uhat, _) = HessianFactorization.Factorize(hessian, RelDamp, retries: 0);
        Assert.NotNull(uhat);
        var gptqCodes = GptqLoop.Run(weight.t().contiguous(), uhat, groups, spec, blockSize: 128);

        // The LDL form: x_k = w_k + Σ_{j<k} F[j, k]·(y_j − w_j), against the ORIGINAL weights.
        var (factor, lossWeight, _, ok) = HessianFactorization.FactorizeBatchFeedback(hessian.unsqueeze(0).clone(), RelDamp, panel: 64);
        Assert.True(ok.item<bool>());
        var (codes, values, updated) = LdlLoop(weight.t().contiguous(), factor[0], groups, spec);

        var differing = codes.ne(gptqCodes).sum().item<long>();
        output.WriteLine($"{differing} of {codes.numel()} codes differ from the Û path");
        Assert.True(differing <= codes.numel() / 1000, $"{differing} codes differ");

        // Σ_k c_k·(x_k − y_k)² is the proxy loss tr((W − Q)(H + λI)(W − Q)ᵀ), in fp64.
        var loss = (updated - values).to_type(ScalarType.Float64).square().sum(1).mul(lossWeight[0].to_type(ScalarType.Float64)).sum().item<double>();
        var delta = (weight - values.t()).to_type(ScalarType.Float64);
        var proxy = delta.matmul(Damped(hessian.unsqueeze(0))[0]).mul(delta).sum().item<double>();
        output.WriteLine($"LDL loss {loss:E6}, proxy loss {proxy:E6}");
        Assert.True(Math.Abs(loss - proxy) < 1e-5 * proxy, $"LDL loss {loss} against proxy loss {proxy}");
    }

    // The loop the fused kernel runs with F, column by column: quantize the updated x_j with the static scales, then
    // feed y_j − w_j (original w) to every later column. Returns codes, dequantized values and updated x, all (C, rows).
    private static (Tensor Codes, Tensor Values, Tensor Updated) LdlLoop(Tensor wt, Tensor factor, ColumnGroups groups, QuantizerSpec spec)
    {
        var columns = (int)wt.shape[0];
        var (x, codes, values) = (wt.clone(), zeros_like(wt), zeros_like(wt));
        for (var j = 0; j < columns; j++)
        {
            var (scale, zero) = groups.At(j);
            var q = GroupQuantizer.Quantize(x[j], scale, zero, spec);
            var y = GroupQuantizer.Dequantize(q, scale, zero, spec);
            codes[j].copy_(q);
            values[j].copy_(y);
            var rest = columns - j - 1;
            if (rest > 0)
            {
                x.narrow(0, j + 1, rest).addr_(factor[j].narrow(0, j + 1, rest), y - wt[j]);
            }
        }

        return (codes, values, x);
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
