using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;

namespace MoeQuant.Model.Inspection;

/// <summary>Tensor, parameter and byte counts of a group of tensors.</summary>
public sealed record Totals(int Tensors, long Parameters, long Bytes);

/// <summary>Counts for one layer group of a checkpoint.</summary>
/// <param name="Layer">"embed_tokens", "layer 3", "norm", "lm_head" or "other".</param>
/// <param name="Index">Decoder layer index; null outside the decoder layers.</param>
/// <param name="Role">Dense, MoE or MTP for decoder layers (from the config), else the group.</param>
/// <param name="ExpertsFound">Distinct routed-expert indices present in a MoE or MTP layer; null elsewhere.</param>
/// <param name="Totals">Tensors, parameters and bytes of the group.</param>
public sealed record LayerTotals(string Layer, int? Index, LayerRole Role, int? ExpertsFound, Totals Totals);

/// <summary>Counts for one <see cref="TensorKind"/> over the whole checkpoint.</summary>
public sealed record KindTotals(TensorKind Kind, Totals Totals);

/// <summary>Counts for one header dtype ("F8_E4M3", "BF16", ...) over the whole checkpoint.</summary>
public sealed record DtypeTotals(string Dtype, Totals Totals);

/// <summary>How the tensors found differ from <see cref="DeepseekV3Config.ExpectedTensors"/>; all empty for a complete checkpoint.</summary>
/// <param name="Missing">Expected tensors not found.</param>
/// <param name="Unexpected">Tensors found that the config does not describe.</param>
/// <param name="Mismatched">"name: found DTYPE [shape], expected DTYPE [shape]" for tensors of another dtype or shape.</param>
public sealed record TensorCheck(ImmutableArray<string> Missing, ImmutableArray<string> Unexpected, ImmutableArray<string> Mismatched);

/// <summary>
/// What a checkpoint holds, from its config and tensor headers alone: architecture and sizes, then tensor,
/// parameter and byte counts by layer, by kind and by dtype, and how the tensors match the config.
/// FP8 is decided by header dtype (FORMATS.md §2.4). A weight_scale_inv tensor counts towards bytes and tensors but
/// not parameters: it is quantization metadata, and leaving it out keeps the parameter count of an FP8 checkpoint
/// equal to that of its BF16 original.
/// </summary>
public sealed record CheckpointSummary(
    string Architecture,
    string? ModelType,
    int HiddenSize,
    int VocabSize,
    int DenseLayers,
    int MoeLayers,
    int MtpLayers,
    int? RoutedExperts,
    int SharedExperts,
    int ExpertsPerToken,
    bool IsFp8,
    ImmutableArray<int> Fp8BlockSize,
    int Fp8Weights,
    int Fp8Scales,
    Totals Total,
    ImmutableArray<LayerTotals> ByLayer,
    ImmutableArray<KindTotals> ByKind,
    ImmutableArray<DtypeTotals> ByDtype,
    TensorCheck Check)
{
    /// <summary>snake_case names and enum values, like config.json; indented for people reading --json output.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        WriteIndented = true,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static CheckpointSummary Create(DeepseekV3Config config, IEnumerable<TensorHeader> tensors)
    {
        var total = new Tally();
        var byLayer = new SortedDictionary<(int Order, int Index), (LayerRole Role, Tally Tally, HashSet<int> Experts)>();
        var byKind = new SortedDictionary<TensorKind, Tally>();
        var byDtype = new SortedDictionary<SafetensorsDtype, Tally>();
        var found = new Dictionary<string, TensorHeader>(StringComparer.Ordinal);
        int fp8Weights = 0, fp8Scales = 0;

        foreach (var tensor in tensors)
        {
            var place = TensorClassifier.Classify(tensor.Name, config);
            var parameters = place.IsFp8Scale ? 0 : tensor.ElementCount;
            var key = (Order: LayerOrder(place.Role), Index: place.Layer ?? 0);
            if (!byLayer.TryGetValue(key, out var group))
            {
                group = (place.Role, new Tally(), []);
                byLayer.Add(key, group);
            }

            total.Add(parameters, tensor.ByteLength);
            group.Tally.Add(parameters, tensor.ByteLength);
            Get(byKind, place.Kind).Add(parameters, tensor.ByteLength);
            Get(byDtype, tensor.Dtype).Add(parameters, tensor.ByteLength);
            if (place.Expert is { } expert)
            {
                group.Experts.Add(expert);
            }

            fp8Weights += tensor.Dtype == SafetensorsDtype.F8_E4M3 ? 1 : 0;
            fp8Scales += place.IsFp8Scale ? 1 : 0;
            found.TryAdd(tensor.Name, tensor);
        }

        var mainMoeLayers = Enumerable.Range(0, config.NumHiddenLayers).Count(config.IsMoeLayer);
        return new CheckpointSummary(
            Architecture: DeepseekV3Config.ArchitectureName, // parsing rejects every other architecture
            ModelType: config.ModelType,
            HiddenSize: config.HiddenSize,
            VocabSize: config.VocabSize,
            DenseLayers: config.NumHiddenLayers - mainMoeLayers,
            MoeLayers: mainMoeLayers,
            MtpLayers: config.NumNextnPredictLayers,
            RoutedExperts: config.NRoutedExperts,
            SharedExperts: config.NSharedExperts,
            ExpertsPerToken: config.NumExpertsPerTok,
            IsFp8: fp8Weights > 0,
            Fp8BlockSize: config.Fp8Quantization?.WeightBlockSize ?? [],
            Fp8Weights: fp8Weights,
            Fp8Scales: fp8Scales,
            Total: total.ToTotals(),
            ByLayer: [.. byLayer.Select(l => new LayerTotals(
                LayerLabel(l.Value.Role, l.Key.Index),
                l.Key.Order == DecoderOrder ? l.Key.Index : null,
                l.Value.Role,
                l.Key.Order == DecoderOrder && config.IsMoeLayer(l.Key.Index) ? l.Value.Experts.Count : null,
                l.Value.Tally.ToTotals()))],
            ByKind: [.. byKind.Select(k => new KindTotals(k.Key, k.Value.ToTotals()))],
            ByDtype: [.. byDtype.Select(d => new DtypeTotals(d.Key.HeaderName(), d.Value.ToTotals()))],
            Check: CheckAgainst(config.ExpectedTensors(), found));
    }

    private static TensorCheck CheckAgainst(IReadOnlyList<ExpectedTensor> expected, Dictionary<string, TensorHeader> found)
    {
        var expectedNames = expected.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        var mismatched = expected
            .Where(e => found.TryGetValue(e.Name, out var t) && (t.Dtype != e.Dtype || !t.Shape.SequenceEqual(e.Shape)))
            .Select(e => $"{e.Name}: found {Describe(found[e.Name].Dtype, found[e.Name].Shape)}, expected {Describe(e.Dtype, e.Shape)}");
        return new TensorCheck(
            [.. expected.Where(e => !found.ContainsKey(e.Name)).Select(e => e.Name)],
            [.. found.Keys.Where(name => !expectedNames.Contains(name))],
            [.. mismatched]);
    }

    private static string Describe(SafetensorsDtype dtype, ImmutableArray<long> shape) =>
        $"{dtype.HeaderName()} [{string.Join(", ", shape)}]";

    // Model order: embedding, decoder layers (MTP ones have the highest indices), final norm, lm_head, the rest.
    private const int DecoderOrder = 1;

    private static int LayerOrder(LayerRole role) => role switch
    {
        LayerRole.Embedding => 0,
        LayerRole.Dense or LayerRole.Moe or LayerRole.Mtp => DecoderOrder,
        LayerRole.FinalNorm => 2,
        LayerRole.LmHead => 3,
        _ => 4,
    };

    private static string LayerLabel(LayerRole role, int index) => role switch
    {
        LayerRole.Embedding => "embed_tokens",
        LayerRole.Dense or LayerRole.Moe or LayerRole.Mtp => $"layer {index}",
        LayerRole.FinalNorm => "norm",
        LayerRole.LmHead => "lm_head",
        _ => "other",
    };

    private static Tally Get<TKey>(SortedDictionary<TKey, Tally> tallies, TKey key)
        where TKey : notnull
    {
        if (!tallies.TryGetValue(key, out var tally))
        {
            tally = new Tally();
            tallies.Add(key, tally);
        }

        return tally;
    }

    private sealed class Tally
    {
        private int _tensors;
        private long _parameters;
        private long _bytes;

        public void Add(long parameters, long bytes)
        {
            _tensors++;
            _parameters += parameters;
            _bytes += bytes;
        }

        public Totals ToTotals() => new(_tensors, _parameters, _bytes);
    }
}
