using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Quantization;
using static TorchSharp.torch;
using GptqEngine = MoeQuant.Kernels.Gptq.Gptq;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>Each place where GPTQ.md says MoE-Quant goes wrong, pinned by a test that the faulty behaviour fails.</summary>
public class MoeQuantBugTests
{
    [Fact]
    public void Should_quantize_each_tied_weight_as_if_alone_when_order_is_activation()
    {
        // MoE-Quant's tied up_proj re-sorted gate's already sorted diagonal (perm ≈ identity) and so ran unpermuted
        // against gate's permuted factor: its codes would differ from an untied run.
        var problem = Problem.Random(300, 8, 64, tokens: 128);
        var other = Problem.Random(301, 12, 64, tokens: 1);
        using var gate = problem.WeightTensor();
        using var up = other.WeightTensor();
        using var hessian = problem.BuildHessian();
        var options = TestWeights.Options() with { Order = QuantizationOrder.Activation };

        var tied = GptqEngine.QuantizeTied([new GptqWeight("gate_proj", gate), new GptqWeight("up_proj", up)], hessian, options);
        using var gateAlone = GptqEngine.Quantize("gate_proj", gate, hessian, options);
        using var upAlone = GptqEngine.Quantize("up_proj", up, hessian, options);

        Assert.Equal(["gate_proj", "up_proj"], tied.Select(r => r.Unit));
        Assert.Equal(0, tied[0].Codes.ne(gateAlone.Codes).sum().item<long>());
        Assert.Equal(0, tied[1].Codes.ne(upAlone.Codes).sum().item<long>());
        Assert.True(tied[1].GptqLoss < tied[1].RtnLoss);
        foreach (var result in tied)
        {
            result.Dispose();
        }
    }

    [Fact]
    public void Should_measure_the_loss_against_the_natural_order_hessian_when_order_is_activation()
    {
        // MoE-Quant logged tr(ΔHΔᵀ)/tr(WHWᵀ) with its act-order-permuted H while W stayed in natural order.
        var problem = Problem.Random(310, 8, 64, tokens: 128);
        using var weight = problem.WeightTensor();
        using var hessian = problem.BuildHessian();
        using var result = GptqEngine.Quantize("t", weight, hessian, TestWeights.Options() with { Order = QuantizationOrder.Activation });
        var h = Problem.ToDouble(hessian.Matrix);

        var natural = TestWeights.RelativeLoss(result.Dequantized, weight, h);
        var mismatched = TestWeights.RelativeLoss(result.Dequantized, weight, TestWeights.Permute(h, TestWeights.ActOrder(h)));

        Assert.Equal(natural, result.GptqLoss!.Value, 1e-5 * natural);
        Assert.True(Math.Abs(mismatched - natural) > 0.05 * natural, "the test problem must tell the two apart");
    }

    [Theory]
    [InlineData(-3.0, -1.0)]
    [InlineData(0.5, 2.0)]
    [InlineData(-1.0, 3.0)]
    public void Should_give_a_positive_scale_and_represent_the_group_when_asymmetric(double lo, double hi)
    {
        // MoE-Quant's swapped min/max gave negative scales, and its zero point clamp lost same-sign groups.
        var spec = new QuantizerSpec(4, Symmetric: false, ScaleSearch.AbsMax, ScalarType.Float32, CodeRounding.HalfUp);
        using var values = linspace(lo, hi, 32, ScalarType.Float32).view(1, 1, 32);
        var (scale, zero) = GroupQuantizer.Fit(values, spec);
        using var s = scale.unsqueeze(-1);
        using var z = zero.unsqueeze(-1);
        using var rebuilt = GroupQuantizer.Dequantize(GroupQuantizer.Quantize(values, s, z, spec), s, z, spec);

        Assert.True(scale.item<float>() > 0);
        Assert.True((rebuilt - values).abs().max().item<float>() <= (0.5 * scale.item<float>()) + 1e-6);
    }

    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    public void Should_give_finite_values_when_a_group_is_all_zero_or_tiny(ScalarType scaleDtype)
    {
        // With fp16 scales MoE-Quant's 1e-12 scale epsilon underflows to 0 and 0/0 turns an all-zero group into NaN.
        var problem = Problem.Random(320, 4, 64, tokens: 128);
        using var weight = problem.WeightTensor();
        weight.narrow(1, 0, 32).zero_();
        weight[1].narrow(0, 32, 32).fill_(1e-9);
        using var hessian = problem.BuildHessian();
        using var result = GptqEngine.Quantize("t", weight, hessian, TestWeights.Options() with { ScaleDtype = scaleDtype, Symmetric = false });

        Assert.True(result.Scales.to_type(ScalarType.Float32).min().item<float>() > 0);
        Assert.True(result.Dequantized.isfinite().all().item<bool>());
        Assert.True(result.GptqLoss is { } loss && double.IsFinite(loss));
    }

    [Fact]
    public void Should_flag_non_invertible_when_damping_cannot_help_and_rounding_to_nearest_is_chosen()
    {
        // MoE-Quant caught the Cholesky failure, used an identity factor and never set its counter.
        using var indefinite = Hessian.FromMatrix(tensor(new float[,] { { 1, 30, 0, 0 }, { 30, 1, 0, 0 }, { 0, 0, 1, 0 }, { 0, 0, 0, 1 } }), tokens: 100);
        using var weight = ones(2, 4);
        var options = new GptqOptions { GroupSize = -1, MinTokens = 1 };

        using var fallback = GptqEngine.Quantize("t", weight, indefinite, options with { NonInvertible = NonInvertiblePolicy.RoundToNearest });
        var failure = Assert.Throws<HessianNotInvertibleException>(() => GptqEngine.Quantize("layers.0.q_a_proj", weight, indefinite, options));

        Assert.True(fallback.Issues.HasFlag(GptqIssues.NonInvertible));
        Assert.Equal(QuantMethod.RoundToNearest, fallback.Method);
        Assert.Equal("layers.0.q_a_proj", failure.Unit);
        Assert.Contains("layers.0.q_a_proj", failure.Message, StringComparison.Ordinal);
    }
}
