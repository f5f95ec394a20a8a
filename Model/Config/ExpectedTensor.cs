using System.Collections.Immutable;
using MoeQuant.Model.Checkpoint;

namespace MoeQuant.Model.Config;

/// <summary>One tensor that a checkpoint of a <see cref="DeepseekV3Config"/> holds (FORMATS.md §2.4).</summary>
/// <param name="Name">Full tensor name, e.g. "model.layers.3.mlp.experts.17.up_proj.weight".</param>
/// <param name="Dtype">Stored dtype: F8_E4M3 for FP8 Linear weights, F32 for their scales and the router bias, else the config's dtype.</param>
/// <param name="Shape">Shape, [out, in] for Linear weights.</param>
public sealed record ExpectedTensor(string Name, SafetensorsDtype Dtype, ImmutableArray<long> Shape)
{
    /// <summary>Suffix of the F32 block-scale tensor that accompanies each FP8 weight.</summary>
    public const string ScaleSuffix = "_scale_inv";

    /// <summary>An FP8 Linear weight; its scale follows it as <c>Name + "_scale_inv"</c>.</summary>
    public bool IsFp8 => Dtype == SafetensorsDtype.F8_E4M3;

    /// <summary>The F32 block scale of an FP8 weight.</summary>
    public bool IsFp8Scale => Name.EndsWith(".weight" + ScaleSuffix, StringComparison.Ordinal);
}
