using System.Globalization;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;
using MoeQuant.Model.Forward;
using MoeQuant.Model.Quantized;
using static TorchSharp.torch;

namespace MoeQuant.Model.Export;

/// <summary>
/// Which tensors the exported checkpoint holds, in file order, each written when its turn comes (FORMATS.md §3.7): a
/// quantized linear's <c>weight</c> becomes the format's tensors; other FP8 weights are dequantized to BF16 and their
/// <c>weight_scale_inv</c> dropped; every other tensor is copied with its dtype; MTP layers are dropped unless kept.
/// Order: embeddings, layers by number, then the rest (norm, lm_head), so shards follow the model as MoE-Quant's do.
/// </summary>
internal sealed class ExportPlan
{
    private const string LayerPrefix = "model.layers.";

    // Copies stream through a buffer this size, so a 2 GB embedding never sits in memory whole.
    private const int CopyBufferBytes = 16 << 20;

    private readonly ShardedCheckpoint _checkpoint;
    private readonly Dictionary<string, UnitStateLinear> _quantized;
    private readonly Func<int, bool> _keepLayer;

    private ExportPlan(ShardedCheckpoint checkpoint, Dictionary<string, UnitStateLinear> quantized, Func<int, bool> keepLayer)
    {
        _checkpoint = checkpoint;
        _quantized = quantized;
        _keepLayer = keepLayer;
    }

    /// <summary>Checks that every linear of the state is a main-layer linear of this model with the weight's shape.</summary>
    /// <exception cref="UserInputException">A linear appears twice, is unknown to the model, or has another shape.</exception>
    public static ExportPlan Create(DeepseekV3Config config, ShardedCheckpoint checkpoint, IReadOnlyList<UnitStateLinear> linears, bool keepMtp)
    {
        var known = Enumerable.Range(0, config.NumHiddenLayers)
            .SelectMany(layer => LinearUnit.ForLayer(config, layer).Select(u => $"{LayerPrefix}{layer}.{u.Name}"))
            .ToHashSet(StringComparer.Ordinal);
        var quantized = new Dictionary<string, UnitStateLinear>(StringComparer.Ordinal);
        foreach (var linear in linears)
        {
            if (!quantized.TryAdd(linear.Name, linear))
            {
                throw new UserInputException($"{linear.File}: {linear.Name} is also in {quantized[linear.Name].File}; each linear must be quantized once");
            }

            if (!known.Contains(linear.Name) || !checkpoint.TryGetHeader(linear.Name + ".weight", out var weight))
            {
                throw new UserInputException($"{linear.File}: {linear.Name} is not a linear of the main layers of {checkpoint.Folder}; was the state written for another model?");
            }

            if (!weight.Shape.SequenceEqual([linear.OutFeatures, linear.InFeatures]))
            {
                throw new UserInputException(
                    $"{linear.File}: {linear.Name} is [{linear.OutFeatures}, {linear.InFeatures}], but {checkpoint.Folder} has {weight.Name} [{string.Join(", ", weight.Shape)}]; was the state written for another model?");
            }
        }

        return new ExportPlan(checkpoint, quantized, layer => !config.IsMtpLayer(layer) || keepMtp);
    }

    /// <summary>The quantized linears by name.</summary>
    public IReadOnlyDictionary<string, UnitStateLinear> Quantized => _quantized;

    /// <summary>Every tensor of the export, quantized linears in <paramref name="format"/>.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries(ILinearFormat format) =>
    [
        .. _checkpoint.Tensors
            .Where(t => LayerOf(t.Name) is not { } layer || _keepLayer(layer))
            .Where(t => !IsFp8Scale(t))
            .OrderBy(t => t.Name.StartsWith("model.embed_tokens.", StringComparison.Ordinal) ? -1 : LayerOf(t.Name) ?? int.MaxValue)
            .ThenBy(t => t.Name, StringComparer.Ordinal)
            .SelectMany(t => _quantized.TryGetValue(ModuleOf(t.Name), out var linear) && t.Name.EndsWith(".weight", StringComparison.Ordinal)
                ? format.Entries(linear)
                : [Original(t)]),
    ];

    /// <summary>The layer number of a <c>model.layers.N.</c> tensor, else null.</summary>
    public static int? LayerOf(string name)
    {
        if (!name.StartsWith(LayerPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var end = name.IndexOf('.', LayerPrefix.Length);
        return end > 0 && int.TryParse(name.AsSpan(LayerPrefix.Length, end - LayerPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var layer) ? layer : null;
    }

    private static string ModuleOf(string tensor) => tensor[..Math.Max(0, tensor.LastIndexOf('.'))];

    /// <summary>A <c>weight_scale_inv</c> whose weight is FP8: it dies with the dequantization or the packing.</summary>
    private bool IsFp8Scale(TensorHeader tensor) =>
        tensor.Name.EndsWith(Fp8WeightReader.ScaleName(""), StringComparison.Ordinal)
        && _checkpoint.TryGetHeader(tensor.Name[..^Fp8WeightReader.ScaleName("").Length], out var weight)
        && weight.Dtype == SafetensorsDtype.F8_E4M3;

    private SafetensorsEntry Original(TensorHeader tensor) => tensor.Dtype == SafetensorsDtype.F8_E4M3
        ? new SafetensorsEntry(tensor.Name, SafetensorsDtype.BF16, tensor.Shape, stream =>
        {
            using var weight = _checkpoint.ReadDequantizedWeight(tensor.Name, ScalarType.BFloat16);
            Kernels.Tensors.TensorBytes.Write(weight, stream);
        })
        : new SafetensorsEntry(tensor.Name, tensor.Dtype, tensor.Shape, stream => Copy(tensor, stream));

    private void Copy(TensorHeader tensor, Stream stream)
    {
        var buffer = new byte[(int)Math.Min(CopyBufferBytes, tensor.ByteLength)];
        for (var offset = 0L; offset < tensor.ByteLength; offset += buffer.Length)
        {
            var chunk = buffer.AsSpan(0, (int)Math.Min(buffer.Length, tensor.ByteLength - offset));
            _checkpoint.ReadBytes(tensor.Name, offset, chunk);
            stream.Write(chunk);
        }
    }
}
