using MoeQuant.Model.Forward;
using MoeQuant.Model.TinyModel;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Forward;

public sealed class ForwardBenchmarkTests
{
    [Fact]
    public void Should_time_a_moe_layer_of_random_weights_on_the_cpu()
    {
        var result = ForwardBenchmark.Run(CPU, batch: 2, sequenceLength: 16, warmup: 0, repetitions: 1, config: TinyModelConfig.Load());
        Assert.Equal(1, result.Layer);
        Assert.True(result.TokensPerSecond > 0);
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
