using System.Globalization;
using MoeQuant.Model.Config;

namespace MoeQuant.Model.Inspection;

/// <summary>Where a tensor name places it: layer index (null outside the decoder layers), kind, expert index.</summary>
internal readonly record struct TensorPlace(int? Layer, LayerRole Role, TensorKind Kind, int? Expert, bool IsFp8Scale);

/// <summary>Classifies tensor names of the HuggingFace DeepSeek-V3 layout (FORMATS.md §2.4).</summary>
internal static class TensorClassifier
{
    private const string LayersPrefix = "model.layers.";
    private const string ExpertsPrefix = "mlp.experts.";

    /// <summary>Places <paramref name="name"/>; <paramref name="config"/> tells dense, MoE and MTP layers apart.</summary>
    public static TensorPlace Classify(string name, DeepseekV3Config config)
    {
        var isScale = name.EndsWith(".weight" + ExpectedTensor.ScaleSuffix, StringComparison.Ordinal);
        if (name.StartsWith(LayersPrefix, StringComparison.Ordinal))
        {
            var rest = name.AsSpan(LayersPrefix.Length);
            var dot = rest.IndexOf('.');
            if (dot > 0 && int.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out var layer))
            {
                var inLayer = rest[(dot + 1)..].ToString();
                var layerRole = config.IsMtpLayer(layer) ? LayerRole.Mtp : config.IsMoeLayer(layer) ? LayerRole.Moe : LayerRole.Dense;
                return new TensorPlace(layer, layerRole, LayerKind(inLayer), ExpertIndex(inLayer), isScale);
            }
        }

        var (role, kind) = name switch
        {
            _ when name.StartsWith("model.embed_tokens.", StringComparison.Ordinal) => (LayerRole.Embedding, TensorKind.Embedding),
            _ when name.StartsWith("model.norm.", StringComparison.Ordinal) => (LayerRole.FinalNorm, TensorKind.Norm),
            _ when name.StartsWith("lm_head.", StringComparison.Ordinal) => (LayerRole.LmHead, TensorKind.Embedding),
            _ => (LayerRole.Other, TensorKind.Other),
        };
        return new TensorPlace(null, role, kind, null, isScale);
    }

    private static TensorKind LayerKind(string inLayer) => inLayer switch
    {
        _ when inLayer.Contains("layernorm.", StringComparison.Ordinal) => TensorKind.Norm,
        _ when inLayer.StartsWith("self_attn.", StringComparison.Ordinal) => TensorKind.Attention,
        _ when inLayer.StartsWith(ExpertsPrefix, StringComparison.Ordinal) => TensorKind.RoutedExperts,
        _ when inLayer.StartsWith("mlp.shared_experts.", StringComparison.Ordinal) => TensorKind.SharedExperts,
        _ when inLayer.StartsWith("mlp.gate.", StringComparison.Ordinal) => TensorKind.Router,
        _ when inLayer.StartsWith("mlp.", StringComparison.Ordinal) => TensorKind.DenseMlp,
        _ when inLayer.StartsWith("enorm.", StringComparison.Ordinal)
            || inLayer.StartsWith("hnorm.", StringComparison.Ordinal)
            || inLayer.StartsWith("shared_head.norm.", StringComparison.Ordinal) => TensorKind.Norm,
        _ when inLayer.StartsWith("embed_tokens.", StringComparison.Ordinal)
            || inLayer.StartsWith("shared_head.head.", StringComparison.Ordinal) => TensorKind.Embedding,
        _ => TensorKind.Other,
    };

    // "mlp.experts.17.up_proj.weight" → 17; null for other tensors and for fused (non-indexed) expert tensors.
    private static int? ExpertIndex(string inLayer)
    {
        if (!inLayer.StartsWith(ExpertsPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = inLayer.AsSpan(ExpertsPrefix.Length);
        var dot = rest.IndexOf('.');
        return dot > 0 && int.TryParse(rest[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out var expert)
            ? expert
            : null;
    }
}
