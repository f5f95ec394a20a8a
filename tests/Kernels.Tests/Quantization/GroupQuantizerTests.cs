using MoeQuant.Kernels.Quantization;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Quantization;

public class GroupQuantizerTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Should_never_lose_to_absmax_when_the_scale_comes_from_the_mse_search(bool symmetric)
    {
        var absmax = new QuantizerSpec(4, symmetric, ScaleSearch.AbsMax, ScalarType.BFloat16, CodeRounding.HalfUp);
        var mse = absmax with { Search = ScaleSearch.Mse };
        var generator = new Generator(5);
        using var values = randn([16, 4, 32], generator: generator).pow_(3);

        Assert.True((Loss(values, mse) <= Loss(values, absmax) * (1 + 1e-12)).all().item<bool>());
        Assert.True((Loss(values, mse) < Loss(values, absmax)).any().item<bool>());
    }

    [Fact]
    public void Should_round_codes_half_up_by_default_and_half_to_even_on_request()
    {
        var halfUp = new QuantizerSpec(4, true, ScaleSearch.AbsMax, ScalarType.Float32, CodeRounding.HalfUp);
        using var ties = tensor(new[] { -1.5f, -0.5f, 0.5f, 2.5f });
        using var one = ones(1);
        using var zero = full(1, 8f);

        Assert.Equal([7f, 8f, 9f, 11f], GroupQuantizer.Quantize(ties, one, zero, halfUp).data<float>().ToArray());
        Assert.Equal([6f, 8f, 8f, 10f], GroupQuantizer.Quantize(ties, one, zero, halfUp with { Rounding = CodeRounding.HalfEven }).data<float>().ToArray());
    }

    // Σ|dequant − x|^2.4 per (row, group), the MSE search's objective.
    private static Tensor Loss(Tensor values, QuantizerSpec spec)
    {
        var (scale, zero) = GroupQuantizer.Fit(values, spec);
        var s = scale.unsqueeze(-1);
        var z = zero.unsqueeze(-1);
        var rebuilt = (GroupQuantizer.Quantize(values, s, z, spec) - z) * s;
        return (rebuilt - values).abs().to_type(ScalarType.Float64).pow(2.4).sum(-1);
    }
}
