using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Quantization;
using static TorchSharp.torch;
using GptqEngine = MoeQuant.Kernels.Gptq.Gptq;

namespace MoeQuant.Kernels.Tests.Gptq;

public class GptqInvariantTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Should_keep_codes_and_zero_points_in_the_signed_range_when_quantizing_with_any_width(int bits)
    {
        var problem = Problem.Random(100 + bits, 8, 64, tokens: 128);
        using var weight = problem.WeightTensor();
        using var hessian = problem.BuildHessian();
        foreach (var symmetric in new[] { true, false })
        {
            using var result = GptqEngine.Quantize("t", weight, hessian, TestWeights.Options() with { Bits = bits, Symmetric = symmetric });
            var (lo, hi) = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1);
            Assert.InRange(result.Codes.min().item<sbyte>(), lo, hi);
            Assert.InRange(result.Codes.max().item<sbyte>(), lo, hi);
            Assert.InRange(result.ZeroPoints.min().item<sbyte>(), lo, hi);
            Assert.InRange(result.ZeroPoints.max().item<sbyte>(), lo, hi);
            Assert.True(!symmetric || result.ZeroPoints.abs().max().item<sbyte>() == 0);
            Assert.True(result.Scales.to_type(ScalarType.Float32).min().item<float>() > 0);
        }
    }

    [Theory]
    [InlineData(true, QuantizationOrder.Default, ScalarType.BFloat16)]
    [InlineData(false, QuantizationOrder.Activation, ScalarType.BFloat16)]
    [InlineData(false, QuantizationOrder.Activation, ScalarType.Float16)]
    public void Should_rebuild_the_dequantized_weight_bit_for_bit_from_codes_scales_and_zero_points(bool staticGroups, QuantizationOrder order, ScalarType scaleDtype)
    {
        var problem = Problem.Random(120, 8, 96, tokens: 192);
        using var weight = problem.WeightTensor();
        using var hessian = problem.BuildHessian();
        var options = TestWeights.Options() with { Symmetric = false, StaticGroups = staticGroups, Order = order, ScaleDtype = scaleDtype };
        using var result = GptqEngine.Quantize("t", weight, hessian, options);

        // compressed-tensors: W = (q − zp) × scale, column c in group g_idx[c], computed as the exporter's reader would.
        using var groupOf = result.GIdx.to_type(ScalarType.Int64);
        using var scale = result.Scales.to_type(ScalarType.Float32).index_select(1, groupOf);
        using var zero = result.ZeroPoints.to_type(ScalarType.Float32).index_select(1, groupOf);
        using var rebuilt = ((result.Codes.to_type(ScalarType.Float32) - zero) * scale).to_type(scaleDtype);

        Assert.Equal(scaleDtype, result.Dequantized.dtype);
        Assert.Equal(0, rebuilt.ne(result.Dequantized).sum().item<long>());
    }

    [Fact]
    public void Should_map_g_idx_through_the_permutation_when_dynamic_groups_follow_act_order()
    {
        var problem = Problem.Random(130, 4, 96, tokens: 192);
        using var weight = problem.WeightTensor();
        using var hessian = problem.BuildHessian();
        var order = TestWeights.ActOrder(Problem.ToDouble(hessian.Matrix));

        using var dynamicResult = GptqEngine.Quantize("t", weight, hessian, TestWeights.Options() with { StaticGroups = false, Order = QuantizationOrder.Activation });
        using var staticResult = GptqEngine.Quantize("t", weight, hessian, TestWeights.Options() with { Order = QuantizationOrder.Activation });

        var dynamicGroups = dynamicResult.GIdx.data<int>().ToArray();
        Assert.All(Enumerable.Range(0, 96), j => Assert.Equal(j / 32, dynamicGroups[order[j]]));
        Assert.False(dynamicResult.ContiguousGroups);
        Assert.Equal(Enumerable.Range(0, 96).Select(c => c / 32), staticResult.GIdx.data<int>().ToArray());
        Assert.True(staticResult.ContiguousGroups);
    }

    [Theory]
    [InlineData(QuantizationOrder.Default, ScaleSearch.AbsMax, true)]
    [InlineData(QuantizationOrder.Activation, ScaleSearch.Mse, true)]
    [InlineData(QuantizationOrder.Activation, ScaleSearch.AbsMax, false)]
    [InlineData(QuantizationOrder.Default, ScaleSearch.Mse, false)]
    public void Should_beat_round_to_nearest_on_every_problem_when_activations_are_correlated(QuantizationOrder order, ScaleSearch scale, bool symmetric)
    {
        var options = TestWeights.Options() with { Order = order, Scale = scale, Symmetric = symmetric };
        for (var seed = 0; seed < 8; seed++)
        {
            var problem = Problem.Random(200 + seed, 16, 64, tokens: 256, latentRank: 8);
            using var weight = problem.WeightTensor();
            using var hessian = problem.BuildHessian();
            using var result = GptqEngine.Quantize("t", weight, hessian, options);
            Assert.True(result.GptqLoss < result.RtnLoss, $"seed {seed}: GPTQ {result.GptqLoss:E3} vs RTN {result.RtnLoss:E3}");
        }
    }

    [Fact]
    public void Should_complete_with_raised_damping_when_the_hessian_is_singular()
    {
        // Rank 1: with rel_damp 1e-9 the damping is below fp32 resolution and Cholesky meets a non-positive pivot.
        var v = Enumerable.Range(0, 32).Select(i => (float)Math.Sin(i + 1)).ToArray();
        using var vector = tensor(v).view(1, 32);
        using var singular = Hessian.CreateEmpty(32, CPU);
        for (var t = 0; t < 40; t++)
        {
            singular.Accumulate(vector);
        }

        using var weight = Problem.Random(140, 4, 32, tokens: 1).WeightTensor();
        using var result = GptqEngine.Quantize("t", weight, singular, TestWeights.Options() with { RelDamp = 1e-9, DampingRetries = 8 });

        Assert.Equal(QuantMethod.Gptq, result.Method);
        Assert.True(result.Issues.HasFlag(GptqIssues.DampingRaised));
        Assert.True(result.RelDamp > 1e-9);
        Assert.True(result.Dequantized.isfinite().all().item<bool>());
        Assert.True(result.GptqLoss is { } loss && double.IsFinite(loss));
    }

    [Fact]
    public void Should_give_the_same_codes_when_only_the_block_size_changes()
    {
        var problem = Problem.Random(150, 8, 96, tokens: 192);
        using var weight = problem.WeightTensor();
        using var hessian = problem.BuildHessian();
        var options = TestWeights.Options() with { StaticGroups = false, Order = QuantizationOrder.Activation };
        using var whole = GptqEngine.Quantize("t", weight, hessian, options with { BlockSize = 0 });
        foreach (var block in new[] { 1, 7, 40, 128 })
        {
            using var blocked = GptqEngine.Quantize("t", weight, hessian, options with { BlockSize = block });
            var differing = blocked.Codes.ne(whole.Codes).sum().item<long>();
            Assert.True(differing <= 1, $"block {block}: {differing} codes differ");
        }
    }
}
