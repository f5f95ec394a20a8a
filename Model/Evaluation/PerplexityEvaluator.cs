using MoeQuant.Model.Config;
using MoeQuant.Model.Forward;
using static TorchSharp.torch;

namespace MoeQuant.Model.Evaluation;

/// <summary>How <see cref="PerplexityEvaluator.Evaluate"/> runs.</summary>
/// <param name="Device">Where the forward pass computes.</param>
/// <param name="DType">Compute dtype: BFloat16 or Float32.</param>
public sealed record PerplexityOptions(Device Device, ScalarType DType)
{
    /// <summary>
    /// Tokens held between layers in one pass (in CPU memory): bounds memory for any number of sequences. Each pass reads
    /// every layer of the checkpoint once, so larger is faster; a longer sequence gets a pass of its own.
    /// </summary>
    public long MaxTokensPerPass { get; init; } = 1 << 19;

    /// <summary>Sequences of one length per decoder-layer call: bounds the activation memory of attention.</summary>
    public int MicroBatch { get; init; } = 8;
}

/// <summary>Where an evaluation is: reported after each decoder layer of each pass.</summary>
/// <param name="Pass">The pass running, 1-based.</param>
/// <param name="Passes">Passes in all.</param>
/// <param name="LayersDone">Decoder layers of this pass finished.</param>
/// <param name="Layers">Decoder layers per pass.</param>
/// <param name="TokensDone">Predicted tokens of the finished passes.</param>
/// <param name="Tokens">Predicted tokens in all.</param>
public sealed record PerplexityProgress(int Pass, int Passes, int LayersDone, int Layers, long TokensDone, long Tokens);

/// <summary>The result of an evaluation.</summary>
/// <param name="TotalNll">Sum of −log p over every predicted token.</param>
/// <param name="Tokens">Predicted tokens: each sequence's length minus one.</param>
/// <param name="Sequences">Sequences evaluated.</param>
public sealed record PerplexityResult(double TotalNll, long Tokens, int Sequences)
{
    /// <summary>Mean NLL over all predicted tokens (not a mean of per-sequence means, which would overweight short sequences).</summary>
    public double MeanNll => TotalNll / Tokens;

    /// <summary>exp(<see cref="MeanNll"/>).</summary>
    public double Perplexity => Math.Exp(MeanNll);
}

/// <summary>
/// Streaming perplexity: sequences go through <see cref="CausalLmForward"/> in passes of bounded size, each pass one
/// layer-by-layer run, and only the NLL sum is kept between passes.
/// </summary>
public static class PerplexityEvaluator
{
    /// <summary>Mean next-token NLL of <paramref name="sequences"/> under the model.</summary>
    /// <param name="config">The model config.</param>
    /// <param name="source">The model's weights.</param>
    /// <param name="sequences">Token ids, each at least 2 long and below the config's vocab_size; lengths may differ.</param>
    /// <param name="options">Device, dtype and memory bounds.</param>
    /// <param name="progress">Called after each decoder layer of each pass, on the calling thread.</param>
    public static PerplexityResult Evaluate(DeepseekV3Config config, IWeightSource source, IReadOnlyList<int[]> sequences,
        PerplexityOptions options, Action<PerplexityProgress>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxTokensPerPass);
        if (sequences.Count == 0 || sequences.Any(s => s.Length < 2))
        {
            throw new ArgumentException("need at least one sequence, and every sequence needs 2 or more tokens", nameof(sequences));
        }

        // Longest first, so that each pass holds few distinct lengths and equal lengths share batches.
        var passes = Passes(sequences.OrderByDescending(s => s.Length).ToList(), options.MaxTokensPerPass);
        var tokens = sequences.Sum(s => s.Length - 1L);
        var forward = new CausalLmOptions(options.Device, options.DType) { MicroBatch = options.MicroBatch, OffloadHidden = true };
        var totalNll = 0.0;
        var tokensDone = 0L;
        for (var p = 0; p < passes.Count; p++)
        {
            var pass = p + 1;
            var done = tokensDone;
            totalNll += PassNll(config, source, passes[p], forward,
                layer => progress?.Invoke(new PerplexityProgress(pass, passes.Count, layer + 1, config.NumHiddenLayers, done, tokens)));
            tokensDone += passes[p].Sum(s => s.Length - 1L);
        }

        return new PerplexityResult(totalNll, tokens, sequences.Count);
    }

    /// <summary>Consecutive runs of <paramref name="sorted"/> holding at most <paramref name="maxTokens"/> tokens (one sequence at least).</summary>
    private static List<List<int[]>> Passes(List<int[]> sorted, long maxTokens)
    {
        var passes = new List<List<int[]>>();
        var size = 0L;
        foreach (var sequence in sorted)
        {
            if (passes.Count == 0 || size + sequence.Length > maxTokens)
            {
                passes.Add([]);
                size = 0;
            }

            passes[^1].Add(sequence);
            size += sequence.Length;
        }

        return passes;
    }

    /// <summary>Sum of the NLL of every predicted token of one pass, with sequences of equal length batched together.</summary>
    private static double PassNll(DeepseekV3Config config, IWeightSource source, List<int[]> sequences, CausalLmOptions options, Action<int> layerFinished)
    {
        using var scope = NewDisposeScope();
        var batches = sequences.GroupBy(s => s.Length)
            .Select(group => stack(group.Select(s => tensor(s.Select(id => (long)id).ToArray(), ScalarType.Int64)).ToList()))
            .ToList();
        var outputs = CausalLmForward.RunBatches(config, source, batches, options, layerFinished);
        // Summed in f64: a pass may hold millions of tokens. The outputs belong to this scope and go with it.
        return outputs.Sum(o => o.Nll.to_type(ScalarType.Float64).sum().item<double>());
    }
}
