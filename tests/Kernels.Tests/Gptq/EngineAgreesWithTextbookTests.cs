using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Quantization;
using Xunit.Abstractions;
using GptqEngine = MoeQuant.Kernels.Gptq.Gptq;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>
/// The engine (fp32, blocks, lazy updates, reversed-Cholesky factor) against the fp64 textbook GPTQ on seeded random
/// problems, over every combination of bits × group size × sym/asym × order × scale search, for static and dynamic
/// groups. Codes must be equal except where the fp64 value sits within 1e-5 of a rounding boundary (fp32 rounding
/// decides those), and such differences must be ±1 on fewer than 0.1% of the weights.
/// </summary>
public class EngineAgreesWithTextbookTests(ITestOutputHelper output)
{
    private const int Rows = 8;

    public static TheoryData<bool> GroupModes => new() { true, false };

    [Theory]
    [MemberData(nameof(GroupModes))]
    public void Should_give_the_textbook_codes_when_run_over_every_option_combination(bool staticGroups)
    {
        var (weights, differences, unexplained, tieBrokenScales, worst) = (0L, 0L, 0L, 0L, 0);
        var seed = staticGroups ? 1000 : 2000;
        foreach (var bits in new[] { 2, 3, 4, 8 })
        foreach (var groupSize in new[] { 32, 64, 48, -1 })
        foreach (var symmetric in new[] { true, false })
        foreach (var order in new[] { QuantizationOrder.Default, QuantizationOrder.Activation })
        foreach (var scale in new[] { ScaleSearch.AbsMax, ScaleSearch.Mse })
        {
            var options = new GptqOptions
            {
                Bits = bits, GroupSize = groupSize, Symmetric = symmetric, Order = order, Scale = scale,
                StaticGroups = staticGroups, BlockSize = 40,
            };
            // 48 is a divisor that is no power of two; the other sizes need a width they divide.
            var columns = groupSize == 48 ? 96 : 128;
            var comparison = Compare(Problem.Random(seed++, Rows, columns, tokens: 2 * columns), options);
            weights += Rows * columns;
            differences += comparison.TieBrokenCodes;
            unexplained += comparison.Unexplained;
            tieBrokenScales += comparison.TieBrokenScales;
            worst = Math.Max(worst, comparison.LargestDifference);
            Assert.True(comparison.Unexplained == 0, $"{options}: {comparison.Unexplained} codes differ beyond fp32 rounding");
        }

        output.WriteLine($"{weights} weights: {differences} codes settled by fp32 rounding, {tieBrokenScales} scales; largest difference {worst}");
        Assert.True(worst <= 1);
        Assert.True(differences < weights / 1000, $"{differences} of {weights} codes differ");
    }

    internal static Comparison Compare(Problem problem, GptqOptions options)
    {
        using var weight = problem.WeightTensor();
        using var hessian = problem.BuildHessian();
        using var result = GptqEngine.Quantize("test.proj", weight, hessian, options);
        var offset = options.ToQuantizerSpec().ZeroOffset;
        var codes = Add(Problem.ToInt(result.Codes), offset);
        var oracle = new TextbookGptq.Oracle(codes, Problem.ToDouble(result.Scales), Add(Problem.ToInt(result.ZeroPoints), offset));
        var reference = TextbookGptq.Run(Problem.ToDouble(weight), Problem.ToDouble(hessian.Matrix), options, oracle);
        var unexplained = 0;
        var largest = 0;
        for (var r = 0; r < codes.GetLength(0); r++)
        {
            for (var c = 0; c < codes.GetLength(1); c++)
            {
                var d = Math.Abs(codes[r, c] - reference.Codes[r, c]);
                unexplained += d > 0 ? 1 : 0;
                largest = Math.Max(largest, d);
            }
        }

        return new Comparison(unexplained, reference.TieBrokenCodes, reference.TieBrokenScales, Math.Max(largest, reference.TieBrokenCodes > 0 ? 1 : 0));
    }

    private static int[,] Add(int[,] values, int offset)
    {
        var result = (int[,])values.Clone();
        for (var r = 0; r < result.GetLength(0); r++)
        {
            for (var c = 0; c < result.GetLength(1); c++)
            {
                result[r, c] += offset;
            }
        }

        return result;
    }

    internal sealed record Comparison(int Unexplained, int TieBrokenCodes, int TieBrokenScales, int LargestDifference);
}
