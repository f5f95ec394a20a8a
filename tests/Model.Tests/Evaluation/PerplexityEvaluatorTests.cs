using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;
using MoeQuant.Model.Evaluation;
using MoeQuant.Model.Forward;
using MoeQuant.Model.Tests.Checkpoint;
using MoeQuant.Model.TinyModel;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Evaluation;

public sealed class PerplexityEvaluatorTests : IDisposable
{
    // f32 on the CPU: batching equal lengths together changes only summation order inside the kernels.
    private const double Tolerance = 1e-5;

    private readonly TempFolder _folder = new();
    private readonly DeepseekV3Config _config = TinyModelConfig.Load();
    private readonly ShardedCheckpoint _checkpoint;
    private readonly CheckpointWeightSource _weights;

    public PerplexityEvaluatorTests()
    {
        _checkpoint = ShardedCheckpoint.Open(TinyCheckpoint.EnsureWritten(_folder.Path));
        _weights = new CheckpointWeightSource(_checkpoint);
    }

    public void Dispose()
    {
        _checkpoint.Dispose();
        _folder.Dispose();
    }

    /// <summary>Lengths 2 to 17, two of them equal so that they share a batch, with ids from a fixed seed.</summary>
    private static List<int[]> Sequences()
    {
        var random = new Random(7);
        return [.. new[] { 9, 2, 17, 9, 5 }.Select(length => Enumerable.Range(0, length).Select(_ => random.Next(1024)).ToArray())];
    }

    [Fact]
    public void Should_equal_the_token_weighted_mean_of_the_forward_nll_of_each_sequence_run_alone()
    {
        var sequences = Sequences();
        var options = new PerplexityOptions(CPU, ScalarType.Float32);

        var result = PerplexityEvaluator.Evaluate(_config, _weights, sequences, options);

        // Independently: one forward per sequence, its [1, T-1] NLL summed here.
        var perSequence = sequences.Select(ids =>
        {
            using var input = tensor(ids.Select(id => (long)id).ToArray(), ScalarType.Int64).unsqueeze(0);
            using var output = CausalLmForward.Run(_config, _weights, input, new CausalLmOptions(CPU, ScalarType.Float32));
            Assert.Equal([1, ids.Length - 1], output.Nll.shape);
            return (Sum: output.Nll.to_type(ScalarType.Float64).sum().item<double>(), Count: ids.Length - 1);
        }).ToList();
        var expected = perSequence.Sum(s => s.Sum) / perSequence.Sum(s => s.Count);
        var meanOfMeans = perSequence.Average(s => s.Sum / s.Count);

        Assert.Equal((37L, 5), (result.Tokens, result.Sequences));
        Assert.InRange(result.MeanNll, expected - Tolerance, expected + Tolerance);
        Assert.Equal(Math.Exp(result.MeanNll), result.Perplexity, 12);
        // The check above tells the two means apart: they differ by far more than its tolerance on these lengths.
        Assert.True(Math.Abs(meanOfMeans - expected) > 100 * Tolerance, $"mean of means {meanOfMeans} too close to {expected}");
    }

    [Fact]
    public void Should_give_the_same_result_in_passes_of_a_few_tokens_and_report_each_layer_of_each_pass()
    {
        var sequences = Sequences();
        var reports = new List<PerplexityProgress>();

        var whole = PerplexityEvaluator.Evaluate(_config, _weights, sequences, new PerplexityOptions(CPU, ScalarType.Float32));
        var split = PerplexityEvaluator.Evaluate(_config, _weights, sequences,
            new PerplexityOptions(CPU, ScalarType.Float32) { MaxTokensPerPass = 20, MicroBatch = 1 }, reports.Add);

        Assert.InRange(split.MeanNll, whole.MeanNll - Tolerance, whole.MeanNll + Tolerance);
        Assert.Equal(whole.Tokens, split.Tokens);
        // Longest first in passes of at most 20 tokens: [17], [9, 9], [5, 2]; four decoder layers each.
        var layers = _config.NumHiddenLayers;
        Assert.Equal(3 * layers, reports.Count);
        Assert.All(reports, r => Assert.Equal((3, layers, 37L), (r.Passes, r.Layers, r.Tokens)));
        Assert.Equal([0L, 16L, 32L], reports.Where(r => r.LayersDone == layers).Select(r => r.TokensDone));
        Assert.Equal(Enumerable.Range(1, layers), reports.Where(r => r.Pass == 2).Select(r => r.LayersDone));
    }

    [Fact]
    public void Should_refuse_a_sequence_with_nothing_to_predict()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            PerplexityEvaluator.Evaluate(_config, _weights, [[1, 2, 3], [4]], new PerplexityOptions(CPU, ScalarType.Float32)));

        Assert.Contains("2 or more tokens", error.Message, StringComparison.Ordinal);
    }
}
