using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Quantization;
using static TorchSharp.torch;
using GptqEngine = MoeQuant.Kernels.Gptq.Gptq;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>
/// Gptq.QuantizeBatch against the single path (QuantizeTied per item), bit for bit on the CPU: codes, scales, zero
/// points, g_idx, dequantized weights, losses, issues, for every kind of item a batch of experts meets.
/// </summary>
public class BatchTests
{
    private const int Rows = 8;
    private const int Columns = 64;

    [Theory]
    [InlineData(true, ScaleSearch.AbsMax, QuantizationOrder.Default)]
    [InlineData(true, ScaleSearch.Mse, QuantizationOrder.Activation)]
    [InlineData(false, ScaleSearch.AbsMax, QuantizationOrder.Activation)]
    [InlineData(false, ScaleSearch.Mse, QuantizationOrder.Default)]
    public void Should_equal_single_calls_bit_for_bit_when_items_are_untied(bool symmetric, ScaleSearch scale, QuantizationOrder order)
    {
        var options = Options() with { Symmetric = symmetric, Scale = scale, Order = order };
        using var items = MixedItems(weightsPerItem: 1);

        AssertBatchEqualsSingle(items.Items, options);
    }

    [Theory]
    [InlineData(2, true)]
    [InlineData(3, false)]
    [InlineData(8, true)] // signed codes down to −128: formed in int16
    [InlineData(8, false)]
    public void Should_equal_single_calls_bit_for_bit_at_every_bit_width(int bits, bool symmetric)
    {
        var options = Options() with { Bits = bits, Symmetric = symmetric };
        using var items = MixedItems(weightsPerItem: 1);

        AssertBatchEqualsSingle(items.Items, options);
    }

    [Theory]
    [InlineData(QuantizationOrder.Default, 2)]
    [InlineData(QuantizationOrder.Activation, 4)]
    public void Should_equal_single_calls_bit_for_bit_when_items_are_tied_and_factorized_in_chunks(QuantizationOrder order, int rowsOfSecond)
    {
        // Gate and up share one Hessian (rows of the second weight may differ, as kv_a_proj's do from q_a_proj's); a
        // chunk of two Hessians per factorization launch runs the chunked path.
        var options = Options() with { Order = order, Scale = ScaleSearch.Mse };
        using var items = MixedItems(weightsPerItem: 2, rowsOfSecond);

        AssertBatchEqualsSingle(items.Items, options, factorChunkElements: 2L * Columns * Columns);
    }

    [Fact]
    public void Should_take_the_single_path_and_still_agree_when_groups_are_dynamic()
    {
        var options = Options() with { StaticGroups = false, Order = QuantizationOrder.Activation };
        using var items = MixedItems(weightsPerItem: 1);

        AssertBatchEqualsSingle(items.Items, options);
    }

    [Fact]
    public void Should_flag_each_item_as_a_lone_call_would_when_items_are_unusual()
    {
        using var items = MixedItems(weightsPerItem: 1);
        var results = GptqEngine.QuantizeBatch(items.Items, Options());
        try
        {
            var issues = results.Select(r => r[0].Issues).ToArray();
            Assert.Equal(
                [GptqIssues.None, GptqIssues.DeadColumns, GptqIssues.ZeroSamples, GptqIssues.NonInvertible | GptqIssues.DampingRaised, GptqIssues.DampingRaised, GptqIssues.None],
                issues);
            Assert.Equal(QuantMethod.RoundToNearest, results[3][0].Method);
            Assert.Equal(1.0, results[4][0].RelDamp, 12);
            Assert.Null(results[2][0].GptqLoss);
        }
        finally
        {
            results.SelectMany(r => r).ToList().ForEach(r => r.Dispose());
        }
    }

    [Fact]
    public void Should_throw_naming_the_unit_when_an_item_is_unusable_or_of_another_shape()
    {
        using var items = MixedItems(weightsPerItem: 1);
        using var nan = items.Items[1].Weights[0].Weight.clone();
        nan[0, 0] = tensor(float.NaN);
        using var wide = zeros(Rows + 1, Columns);
        var withNan = items.Items.Select((item, e) => e == 1 ? item with { Weights = [new GptqWeight("layers.3.experts.1.down_proj", nan)] } : item).ToList();
        var withOtherShape = items.Items.Append(items.Items[0] with { Weights = [new GptqWeight("layers.3.experts.9.down_proj", wide)] }).ToList();

        var nanFailure = Assert.Throws<GptqInputException>(() => GptqEngine.QuantizeBatch(withNan, Options()));
        var shapeFailure = Assert.Throws<GptqInputException>(() => GptqEngine.QuantizeBatch(withOtherShape, Options()));
        var notInvertible = Assert.Throws<HessianNotInvertibleException>(() => GptqEngine.QuantizeBatch(items.Items, Options() with { NonInvertible = NonInvertiblePolicy.Fail }));

        Assert.Equal("layers.3.experts.1.down_proj", nanFailure.Unit);
        Assert.Equal("layers.3.experts.9.down_proj", shapeFailure.Unit);
        Assert.Equal("item3.w0", notInvertible.Unit);
    }

    private static GptqOptions Options() => TestWeights.Options() with { NonInvertible = NonInvertiblePolicy.RoundToNearest };

    private static void AssertBatchEqualsSingle(List<GptqBatchItem> items, GptqOptions options, long? factorChunkElements = null)
    {
        var batch = factorChunkElements is { } chunk ? GptqBatch.Quantize(items, options, factorChunkElements: chunk) : GptqEngine.QuantizeBatch(items, options);
        var single = items.Select(i => GptqEngine.QuantizeTied(i.Weights, i.Hessian, options)).ToList();
        try
        {
            Assert.Equal(items.Count, batch.Count);
            for (var e = 0; e < items.Count; e++)
            {
                Assert.Equal(single[e].Count, batch[e].Count);
                for (var t = 0; t < single[e].Count; t++)
                {
                    AssertSame(single[e][t], batch[e][t]);
                }
            }
        }
        finally
        {
            batch.Concat(single).SelectMany(r => r).ToList().ForEach(r => r.Dispose());
        }
    }

    internal static void AssertSame(QuantResult expected, QuantResult actual)
    {
        Assert.Equal(expected.Unit, actual.Unit);
        foreach (var (name, a, b) in new[]
        {
            ("codes", expected.Codes, actual.Codes), ("scales", expected.Scales, actual.Scales), ("zero points", expected.ZeroPoints, actual.ZeroPoints),
            ("g_idx", expected.GIdx, actual.GIdx), ("dequantized", expected.Dequantized, actual.Dequantized),
        })
        {
            Assert.True(a.dtype == b.dtype && a.shape.SequenceEqual(b.shape), $"{expected.Unit} {name}: {a.dtype}[{string.Join(",", a.shape)}] vs {b.dtype}[{string.Join(",", b.shape)}]");
            Assert.True(a.eq(b).all().item<bool>(), $"{expected.Unit} {name} differ");
        }

        Assert.Equal(
            (expected.Bits, expected.GroupSize, expected.Symmetric, expected.ContiguousGroups, expected.Method, expected.Tokens, expected.RelDamp, expected.DeadColumns, expected.Issues),
            (actual.Bits, actual.GroupSize, actual.Symmetric, actual.ContiguousGroups, actual.Method, actual.Tokens, actual.RelDamp, actual.DeadColumns, actual.Issues));
        Assert.Equal(expected.GptqLoss, actual.GptqLoss);
        Assert.Equal(expected.RtnLoss, actual.RtnLoss);
    }

    // Six items of one shape: ordinary, a dead input column, no tokens, a Hessian no damping makes factorizable, one
    // that needs raised damping, ordinary again.
    private static BatchItemSet MixedItems(int weightsPerItem, int rowsOfSecond = Rows)
    {
        var set = new BatchItemSet();
        for (var e = 0; e < 6; e++)
        {
            var problem = Problem.Random(700 + e, Rows, Columns, tokens: 3 * Columns);
            if (e == 1)
            {
                for (var token = 0; token < problem.Activations.GetLength(0); token++)
                {
                    problem.Activations[token, 5] = 0;
                }
            }

            var hessian = e switch
            {
                2 => Hessian.CreateEmpty(Columns, CPU),
                3 => Indefinite(offDiagonal: 30),
                4 => Indefinite(offDiagonal: 1.5f),
                _ => problem.BuildHessian(),
            };
            set.Hessians.Add(hessian);
            var weights = new List<GptqWeight>();
            for (var t = 0; t < weightsPerItem; t++)
            {
                var weight = t == 0 ? problem.WeightTensor() : Problem.Random(800 + e, rowsOfSecond, Columns, tokens: 1).WeightTensor();
                set.Weights.Add(weight);
                weights.Add(new GptqWeight($"item{e}.w{t}", weight));
            }

            set.Items.Add(new GptqBatchItem(hessian, weights));
        }

        return set;
    }

    // Identity except H[0,1] = H[1,0] = offDiagonal: indefinite; damping λ (mean diagonal 1) fixes it once 1 + λ > offDiagonal.
    private static Hessian Indefinite(float offDiagonal)
    {
        using var matrix = eye(Columns);
        matrix[0, 1] = tensor(offDiagonal);
        matrix[1, 0] = tensor(offDiagonal);
        return Hessian.FromMatrix(matrix, tokens: 100);
    }
}
