using MoeQuant.Kernels.Gptq;
using static TorchSharp.torch;
using GptqEngine = MoeQuant.Kernels.Gptq.Gptq;

namespace MoeQuant.Kernels.Tests.Gptq;

public class CalibrationPolicyTests
{
    [Fact]
    public void Should_round_to_nearest_and_flag_zero_samples_when_no_token_was_seen()
    {
        using var weight = Problem.Random(400, 4, 64, tokens: 1).WeightTensor();
        using var empty = Hessian.CreateEmpty(64, CPU);
        using var result = GptqEngine.Quantize("experts.7.down_proj", weight, empty, TestWeights.Options());

        Assert.Equal(QuantMethod.RoundToNearest, result.Method);
        Assert.Equal(GptqIssues.ZeroSamples, result.Issues);
        Assert.Null(result.GptqLoss);
        Assert.Equal(0, result.DeadColumns);
        Assert.True(result.Dequantized.isfinite().all().item<bool>());
        // Round to nearest: every code is the nearest step of the weight itself, with no error fed back.
        using var step = result.Scales.to_type(ScalarType.Float32).repeat_interleave(32, 1);
        using var nearest = (weight.to_type(ScalarType.Float32) / step + 0.5).floor().clamp(-8, 7).to_type(ScalarType.Int8);
        Assert.Equal(0, nearest.ne(result.Codes).sum().item<long>());
    }

    [Theory]
    [InlineData(FewTokensPolicy.RoundToNearest, QuantMethod.RoundToNearest)]
    [InlineData(FewTokensPolicy.Gptq, QuantMethod.Gptq)]
    public void Should_follow_the_policy_and_flag_few_samples_when_tokens_are_fewer_than_columns(FewTokensPolicy policy, QuantMethod expected)
    {
        var problem = Problem.Random(410, 4, 64, tokens: 9);
        using var weight = problem.WeightTensor();
        using var hessian = problem.BuildHessian();
        using var result = GptqEngine.Quantize("t", weight, hessian, TestWeights.Options() with { FewTokens = policy });

        Assert.Equal(expected, result.Method);
        Assert.True(result.Issues.HasFlag(GptqIssues.FewSamples));
        Assert.Equal(9, result.Tokens);
        Assert.True(result.GptqLoss is { } loss && double.IsFinite(loss));
        Assert.True(expected == QuantMethod.Gptq || result.GptqLoss == result.RtnLoss);
    }

    [Fact]
    public void Should_throw_naming_the_unit_when_the_policy_is_to_fail()
    {
        using var weight = ones(2, 16);
        using var empty = Hessian.CreateEmpty(16, CPU);
        var failure = Assert.Throws<InsufficientCalibrationException>(
            () => GptqEngine.Quantize("layers.4.mlp.experts.9.up_proj", weight, empty, new GptqOptions { GroupSize = 16, FewTokens = FewTokensPolicy.Fail }));

        Assert.Equal("layers.4.mlp.experts.9.up_proj", failure.Unit);
        Assert.Equal(16, failure.Required);
    }

    [Fact]
    public void Should_zero_dead_columns_and_flag_them_when_an_input_never_fires()
    {
        var problem = Problem.Random(420, 4, 64, tokens: 128);
        for (var t = 0; t < 128; t++)
        {
            problem.Activations[t, 5] = 0;
        }

        using var weight = problem.WeightTensor();
        using var hessian = problem.BuildHessian();
        using var result = GptqEngine.Quantize("t", weight, hessian, TestWeights.Options());

        Assert.Equal(1, result.DeadColumns);
        Assert.True(result.Issues.HasFlag(GptqIssues.DeadColumns));
        Assert.Equal(0, result.Dequantized[.., 5].abs().sum().to_type(ScalarType.Float32).item<float>());
    }

    [Fact]
    public void Should_count_and_name_units_when_summarizing_issues()
    {
        var problem = Problem.Random(430, 4, 32, tokens: 64);
        using var weight = problem.WeightTensor();
        using var hessian = problem.BuildHessian();
        using var empty = Hessian.CreateEmpty(32, CPU);
        var results = new[]
        {
            GptqEngine.Quantize("experts.0.gate_proj", weight, hessian, TestWeights.Options()),
            GptqEngine.Quantize("experts.1.gate_proj", weight, empty, TestWeights.Options()),
            GptqEngine.Quantize("experts.2.gate_proj", weight, empty, TestWeights.Options()),
        };

        var summary = GptqIssueSummary.From(results);

        Assert.Equal(3, summary.Units);
        Assert.Equal(2, summary.Count(GptqIssues.ZeroSamples));
        Assert.Equal(["experts.1.gate_proj", "experts.2.gate_proj"], summary.UnitsByIssue[GptqIssues.ZeroSamples]);
        Assert.Contains("ZeroSamples=2", summary.ToString(), StringComparison.Ordinal);
        Array.ForEach(results, r => r.Dispose());
    }
}
