using MoeQuant.Kernels.Gptq;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;
using MoeQuant.Model.Forward;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Tests.Pipeline;

/// <summary>
/// The run's maths written straight, without actors, workload or files: for each layer, Σxxᵀ per input group summed
/// per shard and then over shards in order, GPTQ per linear, the quantized weights put back, and the samples pushed
/// through the quantized layer. What the pipeline writes must equal what this computes.
/// </summary>
internal static class SequentialReference
{
    /// <summary>Every linear's GPTQ result by full module name (<c>model.layers.1.mlp.experts.0.up_proj</c>).</summary>
    public static Dictionary<string, QuantResult> Run(string checkpointFolder, IReadOnlyList<int[]> samples, int shards, GptqOptions options)
    {
        using var checkpoint = ShardedCheckpoint.Open(checkpointFolder);
        var config = DeepseekV3Config.Load(Path.Combine(checkpointFolder, "config.json"));
        var source = new CheckpointWeightSource(checkpoint);
        var dtype = options.ScaleDtype;
        using var embedding = source.Read("model.embed_tokens.weight", dtype, CPU);
        var hidden = samples.Select(s => embedding.index_select(0, tensor(s.Select(i => (long)i).ToArray())).unsqueeze(0)).ToList();
        var results = new Dictionary<string, QuantResult>(StringComparer.Ordinal);
        for (var layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            using var weights = DecoderLayerWeights.Load(config, layer, source, CPU, dtype);
            var sums = new Dictionary<string, (Tensor Sum, long Tokens)>(StringComparer.Ordinal);
            for (var shard = 0; shard < shards; shard++)
            {
                var part = new Dictionary<string, (Tensor Sum, long Tokens)>(StringComparer.Ordinal);
                var capture = new LayerCapture(OnLinearInput: c =>
                {
                    if (c.Tokens == 0)
                    {
                        return;
                    }

                    var x = c.Activations.reshape(-1, c.Activations.shape[1]).to_type(ScalarType.Float32);
                    var (sum, tokens) = part.TryGetValue(c.InputGroup, out var p) ? p : (zeros(x.shape[1], x.shape[1]).DetachFromDisposeScope(), 0L);
                    sum.addmm_(x.t(), x);
                    part[c.InputGroup] = (sum, tokens + c.Tokens);
                });
                foreach (var i in Enumerable.Range(0, samples.Count).Where(i => (long)i * shards / samples.Count == shard))
                {
                    using var scope = NewDisposeScope();
                    DecoderLayer.Run(weights, hidden[i], arange(hidden[i].shape[1]), capture);
                }

                foreach (var (group, (sum, tokens)) in part)
                {
                    sums[group] = sums.TryGetValue(group, out var total) ? (total.Sum.add_(sum), total.Tokens + tokens) : (sum, tokens);
                }
            }

            foreach (var group in weights.Units.GroupBy(u => u.InputGroup))
            {
                var (sum, tokens) = sums[group.Key];
                using var scaled = sum.mul(2.0 / tokens);
                using var hessian = Hessian.FromMatrix(scaled, tokens);
                foreach (var unit in group)
                {
                    var name = $"model.layers.{layer}.{unit.Name}";
                    results[name] = Gptq.Quantize(name, weights.Weight(unit.Name), hessian, options);
                }
            }

            foreach (var unit in weights.Units)
            {
                weights.ReplaceWeight(unit.Name, results[$"model.layers.{layer}.{unit.Name}"].Dequantized);
            }

            hidden = [.. hidden.Select(h => DecoderLayer.Run(weights, h, arange(h.shape[1])))];
        }

        return results;
    }
}
