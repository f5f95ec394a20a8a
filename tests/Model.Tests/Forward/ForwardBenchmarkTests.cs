using MoeQuant.Kernels.Attention;
using MoeQuant.Model.Forward;
using MoeQuant.Model.TinyModel;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Forward;

public sealed class ForwardBenchmarkTests
{
    private static readonly string[] MoePhases =
    [
        "input norm", "q/kv_a product", "q path", "kv path", "rope", "qkv layout", "sdpa", "o_proj", "attention residual", "post norm",
        "router scores", "router group top-k", "router top-k", "dispatch", "experts gate/up", "experts activation", "experts down",
        "combine", "shared expert", "mlp residual",
    ];

    [Fact]
    public void Should_time_every_variant_and_phase_of_a_moe_layer_of_random_weights_on_the_cpu()
    {
        var config = TinyModelConfig.Load();
        var results = ForwardVariantBenchmark.Run(CPU, ForwardOptions.Variants, batch: 2, sequenceLength: 16, warmup: 0, repetitions: 1, phases: true, config: config);

        Assert.Equal(ForwardOptions.Variants.Select(v => v.Name), results.Select(r => r.Name));
        // On the CPU the explicit CUDA attention kernels have nothing to run on; every other variant runs.
        var cudaOnly = new[] { AttentionKernel.Flash, AttentionKernel.Efficient, AttentionKernel.Cudnn };
        foreach (var result in results)
        {
            if (cudaOnly.Contains(result.Options.Attention))
            {
                Assert.Contains("CPU", result.Error, StringComparison.Ordinal);
                continue;
            }

            Assert.Null(result.Error);
            Assert.True(result.Milliseconds > 0);
            Assert.Equal(0, result.RoutingMismatchedTokens);
            Assert.Subset(result.Phases!.Select(p => p.Phase).ToHashSet(), MoePhases.ToHashSet());
            Assert.All(result.Phases!, p => Assert.True(p.Milliseconds >= 0));
        }

        // The fused kernels fall back to the reference operations on the CPU, and the in-place layout changes no value.
        Assert.All(results.Where(r => r.Options.Attention == AttentionKernel.PaddedAuto), r => Assert.Equal(0.0, r.MaxAbsDiff));
    }

    [Fact]
    public void Should_model_the_work_of_every_phase_of_a_deepseek_v3_moe_layer()
    {
        var work = ForwardPhaseCost.MoeLayer(ForwardBenchmark.DeepseekV3Dimensions, 8, 4096);

        Assert.Subset(work.Keys.ToHashSet(), MoePhases.ToHashSet());
        // 8 × 4096 tokens, top-8 of experts 2048 wide at hidden 7168: 3 products of 2·tokens·8·7168·2048.
        Assert.Equal(3 * 2.0 * 32768 * 8 * 7168 * 2048, work["experts gate/up"].Flops + work["experts down"].Flops, 1e6);
        // Causal attention: 8 sequences × 128 heads × 4096·4097/2 pairs × (192 + 128) × 2.
        Assert.Equal(8 * 128 * (4096 * 4097 / 2.0) * 320 * 2, work["sdpa"].Flops, 1e6);
    }

    [Fact]
    public void Should_describe_deepseek_v3_at_its_published_dimensions()
    {
        var config = ForwardBenchmark.DeepseekV3Dimensions;
        Assert.True(config.IsMoeLayer(3));
        Assert.Equal(192, config.QkHeadDim);
        Assert.Equal(0.135234, config.SoftmaxScale, 6);
        Assert.Equal(5 + (256 * 3) + 3, LinearUnit.ForLayer(config, 3).Count);
    }
}
