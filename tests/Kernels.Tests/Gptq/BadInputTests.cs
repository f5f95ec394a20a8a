using MoeQuant.Kernels.Gptq;
using static TorchSharp.torch;
using GptqEngine = MoeQuant.Kernels.Gptq.Gptq;

namespace MoeQuant.Kernels.Tests.Gptq;

public class BadInputTests
{
    private const string Unit = "model.layers.3.mlp.experts.17.up_proj";

    public static TheoryData<string, GptqOptions> BadOptions => new()
    {
        { "bits", new GptqOptions { Bits = 1 } },
        { "bits", new GptqOptions { Bits = 9 } },
        { "does not divide", new GptqOptions { GroupSize = 48 } },
        { "does not divide", new GptqOptions { GroupSize = 0 } },
        { "does not divide", new GptqOptions { GroupSize = -2 } },
        { "does not divide", new GptqOptions { GroupSize = 256 } },
        { "rel_damp", new GptqOptions { RelDamp = 0 } },
        { "rel_damp", new GptqOptions { RelDamp = double.NaN } },
        { "negative", new GptqOptions { BlockSize = -1 } },
        { "scales are stored", new GptqOptions { ScaleDtype = ScalarType.Int8 } },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Should_throw_naming_the_unit_when_an_option_is_unusable(string expected, GptqOptions options)
    {
        using var weight = ones(4, 128);
        using var hessian = Hessian.FromMatrix(eye(128), tokens: 500);

        var failure = Assert.Throws<GptqInputException>(() => GptqEngine.Quantize(Unit, weight, hessian, options));

        Assert.Equal(Unit, failure.Unit);
        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(4, 96, "input columns")]
    [InlineData(0, 0, "2-D")]
    public void Should_throw_naming_the_unit_when_shapes_do_not_match(int rows, int columns, string expected)
    {
        using var weight = rows == 0 ? ones(128) : ones(rows, columns);
        using var hessian = Hessian.FromMatrix(eye(128), tokens: 500);

        var failure = Assert.Throws<GptqInputException>(() => GptqEngine.Quantize(Unit, weight, hessian, new GptqOptions()));

        Assert.Equal(Unit, failure.Unit);
        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(double.NaN, false)]
    [InlineData(double.PositiveInfinity, false)]
    [InlineData(double.NaN, true)]
    [InlineData(double.NegativeInfinity, true)]
    public void Should_throw_naming_the_unit_when_weight_or_hessian_is_not_finite(double bad, bool inHessian)
    {
        using var weight = ones(4, 64);
        using var matrix = eye(64);
        (inHessian ? matrix : weight)[1, 2] = bad;
        using var hessian = Hessian.FromMatrix(matrix, tokens: 500);

        var failure = Assert.Throws<GptqInputException>(
            () => GptqEngine.QuantizeTied([new GptqWeight("gate_proj", weight), new GptqWeight("up_proj", ones(2, 64))], hessian, TestWeights.Options()));

        Assert.Equal(inHessian ? "gate_proj+up_proj" : "gate_proj", failure.Unit);
        Assert.Contains("NaN or Inf", failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(double.NaN, false)]
    [InlineData(double.NegativeInfinity, true)]
    public void Should_name_the_item_of_a_batch_whose_weight_or_hessian_is_not_finite(double bad, bool inHessian)
    {
        // fp32's largest values everywhere else: finite, though any sum of them in fp32 overflows.
        using var good = full(4, 64, float.MaxValue);
        using var weight = full(4, 64, float.MaxValue);
        using var matrix = eye(64).mul_(float.MaxValue);
        using var goodMatrix = eye(64).mul_(float.MaxValue);
        (inHessian ? matrix : weight)[3, 3] = bad;
        using var goodHessian = Hessian.FromMatrix(goodMatrix, tokens: 500);
        using var badHessian = Hessian.FromMatrix(matrix, tokens: 500);
        GptqBatchItem[] items = [new(goodHessian, [new GptqWeight("e0.gate", good)]), new(badHessian, [new GptqWeight("e1.gate", weight)])];

        var failure = Assert.Throws<GptqInputException>(() => GptqEngine.QuantizeBatch(items, TestWeights.Options()));

        Assert.Equal("e1.gate", failure.Unit);
        Assert.Contains(inHessian ? "the Hessian holds NaN or Inf" : "the weight holds NaN or Inf", failure.Message, StringComparison.Ordinal);
    }
}
