using MoeQuant.Kernels.Gptq;
using MoeQuant.Kernels.Quantization;
using static TorchSharp.torch;
using GptqEngine = MoeQuant.Kernels.Gptq.Gptq;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>
/// How a batch runs (GptqBatchSettings) never changes what it computes: a workspace budget splits it into chunks whose
/// results are those of calls on each chunk, and stage announcements leave every bit as it was.
/// </summary>
public class BatchSettingsTests
{
    private const int Rows = 4;

    [Fact]
    public void Should_equal_calls_on_each_chunk_when_the_workspace_budget_splits_the_batch()
    {
        const int columns = 64;
        using var set = Items(count: 5, columns, tied: true);
        var options = TestWeights.Options() with { Order = QuantizationOrder.Activation, Scale = ScaleSearch.Mse };
        long[] rows = [Rows, Rows];
        // A budget that holds the whole batch's results and the workspace of two items, not three: chunks of 2, 2, 1.
        var perItem = GptqBatchWorkspace.ResultBytesPerItem(rows, columns, 32);
        var budget = GptqBatchWorkspace.EstimateBytes(2, rows, columns, 32) - (2 * perItem) + (5 * perItem);
        Assert.Equal(2, GptqBatchWorkspace.ItemsPerChunk(5, rows, columns, 32, budget));

        var chunked = GptqEngine.QuantizeBatch(set.Items, options, new GptqBatchSettings { WorkspaceBytes = budget });
        var separate = new[] { set.Items[0..2], set.Items[2..4], set.Items[4..5] }.SelectMany(chunk => GptqEngine.QuantizeBatch(chunk, options)).ToList();
        try
        {
            AssertSameResults(separate, chunked);
        }
        finally
        {
            chunked.Concat(separate).SelectMany(r => r).ToList().ForEach(r => r.Dispose());
        }
    }

    [Fact]
    public void Should_announce_every_stage_in_order_and_change_no_bit_when_stages_are_observed()
    {
        // 512 columns: two panels of 256 for the Cholesky (on the CPU the loop runs on Û, InPlaceFactorOfInverse's
        // panels) and one split of the inverse, so their products run too.
        const int columns = 512;
        using var set = Items(count: 3, columns, tied: true);
        var options = TestWeights.Options(groupSize: 128) with { Order = QuantizationOrder.Activation };
        var seen = new List<GptqStage>();

        var observed = GptqEngine.QuantizeBatch(set.Items, options, new GptqBatchSettings { Stages = seen.Add });
        var plain = GptqEngine.QuantizeBatch(set.Items, options);
        try
        {
            AssertSameResults(plain, observed);
            var firstEntries = seen.Distinct().ToList();
            Assert.Equal(
                [
                    GptqStage.Validation, GptqStage.DeadColumns, GptqStage.Permutation, GptqStage.Damping, GptqStage.FactorLeaf,
                    GptqStage.FactorAssembly, GptqStage.FactorProduct, GptqStage.InverseProduct, GptqStage.FactorNormalize, GptqStage.WeightStack, GptqStage.ScaleSearch,
                    GptqStage.RoundToNearest, GptqStage.LoopSetup, GptqStage.ColumnLoop, GptqStage.Dequantize, GptqStage.ProxyLoss,
                    GptqStage.HostSync, GptqStage.Outputs,
                ],
                firstEntries);
            // Cholesky: a leaf per panel, and the panel's solve and trailing update above the first; inverse: its two
            // leaves (256 + 256) are the Cholesky's inverted diagonal blocks, so one product step and no leaf of its own.
            Assert.Equal(2, seen.Count(s => s == GptqStage.FactorLeaf));
            Assert.Equal(2, seen.Count(s => s == GptqStage.FactorProduct));
            Assert.Equal(1, seen.Count(s => s == GptqStage.InverseProduct));
            Assert.Equal(2, seen.Count(s => s == GptqStage.WeightStack));
        }
        finally
        {
            observed.Concat(plain).SelectMany(r => r).ToList().ForEach(r => r.Dispose());
        }
    }

    [Fact]
    public void Should_leave_the_callers_weights_intact_when_they_are_already_float32()
    {
        // The batch frees its fp32 conversions early; a weight that needs none must not be freed with them.
        var problem = Problem.Random(990, Rows, 64, tokens: 128, latentRank: 16);
        using var hessian = problem.BuildHessian();
        using var weight = problem.WeightTensor(ScalarType.Float32);
        using var expected = weight.clone();

        var results = GptqEngine.QuantizeBatch([new GptqBatchItem(hessian, [new GptqWeight("w", weight)])], TestWeights.Options());
        results.SelectMany(r => r).ToList().ForEach(r => r.Dispose());

        Assert.False(weight.IsInvalid);
        Assert.True(weight.eq(expected).all().item<bool>());
    }

    [Fact]
    public void Should_charge_every_stage_once_per_entry_when_timed_on_the_cpu()
    {
        using var set = Items(count: 2, columns: 64, tied: false);
        var timer = new GptqStageTimer(CPU);

        timer.Start();
        var results = GptqEngine.QuantizeBatch(set.Items, TestWeights.Options(), new GptqBatchSettings { Stages = timer.Enter });
        var total = timer.Stop();
        results.SelectMany(r => r).ToList().ForEach(r => r.Dispose());

        Assert.Equal(GptqStage.Validation, timer.Stages[0].Stage);
        Assert.All(timer.Stages, s => Assert.True(s.Milliseconds >= 0 && s.Entries >= 1));
        Assert.Equal(total, timer.Stages.Sum(s => s.Milliseconds) + timer.UnattributedMilliseconds, 6);
        Assert.Null(timer.PeakDeviceUsedBytes);
    }

    [Fact]
    public void Should_plan_equal_chunks_that_fit_when_the_budget_is_smaller_than_the_batch()
    {
        long[] rows = [2048, 2048];
        const int columns = 7168;
        var perItem = GptqBatchWorkspace.ResultBytesPerItem(rows, columns, 128);
        // Room for 12 items' workspace beside 32 items' results: 32 = 11 + 11 + 10 (16 + 16 would not fit: 16 items
        // factorize 8 at a time, whose temporaries exceed those of 12 items factorized 6 at a time).
        var budget = GptqBatchWorkspace.EstimateBytes(12, rows, columns, 128) - (12 * perItem) + (32 * perItem);
        Assert.Equal(11, GptqBatchWorkspace.ItemsPerChunk(32, rows, columns, 128, budget));
        Assert.Equal(32, GptqBatchWorkspace.ItemsPerChunk(32, rows, columns, 128, long.MaxValue / 2));
        Assert.Equal(1, GptqBatchWorkspace.ItemsPerChunk(32, rows, columns, 128, budgetBytes: 1));
        // DeepSeek-V3's tied gate+up at batch 32 is estimated well inside an 80 GB card.
        Assert.InRange(GptqBatchWorkspace.EstimateBytes(32, rows, columns, 128), 20e9, 45e9);
    }

    private static void AssertSameResults(IReadOnlyList<IReadOnlyList<QuantResult>> expected, IReadOnlyList<IReadOnlyList<QuantResult>> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var e = 0; e < expected.Count; e++)
        {
            Assert.Equal(expected[e].Count, actual[e].Count);
            for (var t = 0; t < expected[e].Count; t++)
            {
                BatchTests.AssertSame(expected[e][t], actual[e][t]);
            }
        }
    }

    private static BatchItemSet Items(int count, int columns, bool tied)
    {
        var set = new BatchItemSet();
        for (var e = 0; e < count; e++)
        {
            var problem = Problem.Random(900 + e, Rows, columns, tokens: 2 * columns, latentRank: 16);
            var hessian = problem.BuildHessian();
            set.Hessians.Add(hessian);
            var weights = new List<GptqWeight>();
            for (var t = 0; t < (tied ? 2 : 1); t++)
            {
                var weight = t == 0 ? problem.WeightTensor() : Problem.Random(950 + e, Rows, columns, tokens: 1).WeightTensor();
                set.Weights.Add(weight);
                weights.Add(new GptqWeight($"item{e}.w{t}", weight));
            }

            set.Items.Add(new GptqBatchItem(hessian, weights));
        }

        return set;
    }
}
