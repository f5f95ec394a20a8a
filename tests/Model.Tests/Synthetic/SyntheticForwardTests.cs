using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;
using MoeQuant.Model.Forward;
using MoeQuant.Model.Synthetic;
using MoeQuant.Model.Tests.Checkpoint;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Synthetic;

/// <summary>The forward pass of a generated model on its own calibration ids: what makes it useful for timing runs.</summary>
public sealed class SyntheticForwardTests(ITestOutputHelper output) : IDisposable
{
    private const int Samples = 4;
    private const int Tokens = 64;

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Should_keep_hidden_states_at_a_steady_scale_and_spread_tokens_over_every_expert_and_group()
    {
        SyntheticCheckpoint.Write(_folder.Path, SyntheticModels.Routing.ToConfigJson(), new() { CalibrationSamples = Samples, SequenceLength = Tokens });
        var config = DeepseekV3Config.Load(_folder.File("config.json"));
        using var checkpoint = ShardedCheckpoint.Open(_folder.Path);
        var source = new CheckpointWeightSource(checkpoint);
        var ids = tensor(File.ReadAllLines(_folder.File(SyntheticCheckpoint.CalibrationFileName))
            .SelectMany(l => System.Text.Json.JsonSerializer.Deserialize<long[]>(l)!).ToArray()).reshape(Samples, Tokens);
        var experts = config.NRoutedExperts!.Value;
        var loads = new Dictionary<int, long[]>();

        using var table = source.Read("model.embed_tokens.weight", ScalarType.Float32, CPU);
        var hidden = CausalLmForward.Embed(table, ids);
        var scales = new List<double> { Rms(hidden) };
        for (var layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            using var weights = DecoderLayerWeights.Load(config, layer, source, CPU, ScalarType.Float32);
            var current = layer;
            hidden = DecoderLayer.Run(weights, hidden, arange(Tokens), new LayerCapture(OnRouting: r =>
                loads[current] = r.Indices.flatten().bincount(null, experts).data<long>().ToArray()));
            scales.Add(Rms(hidden));
        }

        using var norm = source.Read("model.norm.weight", ScalarType.Float32, CPU);
        using var head = source.Read("lm_head.weight", ScalarType.Float32, CPU);
        var (_, nll) = CausalLmForward.Head(config, norm, head, hidden, ids, keepLogits: false);
        var meanNll = nll.mean().item<float>();
        output.WriteLine($"hidden RMS by layer: {string.Join(", ", scales.Select(s => s.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)))}; mean NLL {meanNll:F3} (ln V = {Math.Log(config.VocabSize):F3})");

        // 1) the residual stream grows by about one unit per layer, never by orders of magnitude.
        Assert.All(scales.Zip(scales.Skip(1)), pair => Assert.InRange(pair.Second / pair.First, 0.8, 2.0));
        // 2) the head sees unit-scale inputs: the loss of random weights is ln(vocab) plus a little.
        Assert.InRange(meanNll, Math.Log(config.VocabSize), Math.Log(config.VocabSize) + 1.5);
        // 3) every expert and group gets tokens, none more than 3× its fair share, with a spread near that of random choices.
        Assert.Equal([3, 4], loads.Keys.Order());
        var groupSize = experts / config.NGroup;
        foreach (var (layer, load) in loads)
        {
            var fair = (double)Samples * Tokens * config.NumExpertsPerTok / experts;
            var spread = Math.Sqrt(load.Average(l => (l - fair) * (l - fair))) / fair;
            output.WriteLine($"layer {layer}: expert loads {load.Min()}..{load.Max()} (fair {fair}, coefficient of variation {spread:F2}), "
                + $"groups {string.Join(", ", load.Chunk(groupSize).Select(g => g.Sum()))}");
            Assert.All(load, l => Assert.InRange(l, 1, fair * 3));
            // Uniformly random choices would give about 0.18 here (Poisson counts of mean 32).
            Assert.InRange(spread, 0, 0.45);
            Assert.All(load.Chunk(groupSize), group => Assert.InRange(group.Sum(), fair * groupSize / 2, fair * groupSize * 2));
        }
    }

    private static double Rms(Tensor hidden) => hidden.square().mean().sqrt().item<float>();
}
