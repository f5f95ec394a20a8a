using MoeQuant.Model.Checkpoint;

namespace MoeQuant.Model.Quantized;

/// <summary>
/// One linear of a unit state file as its header describes it, checked for consistency; the tensors stay on disk, so
/// an exporter can plan a whole model's state before it reads any of it.
/// </summary>
/// <param name="File">Full path of the state file.</param>
/// <param name="Name">Module name without <c>.weight</c>, e.g. <c>model.layers.3.mlp.experts.5.gate_proj</c>.</param>
/// <param name="Bits">Code width.</param>
/// <param name="GroupSize">Columns per group (the input width for one group per row).</param>
/// <param name="Symmetric">Whether the zero points are all 0.</param>
/// <param name="ContiguousGroups">Whether <c>g_idx[c] = c / GroupSize</c>.</param>
/// <param name="OutFeatures">Rows of the weight.</param>
/// <param name="InFeatures">Columns of the weight.</param>
/// <param name="Groups">Scale columns: <c>ceil(InFeatures / GroupSize)</c>.</param>
/// <param name="ScaleDtype">Dtype of the stored scales (BF16, F16 or F32).</param>
/// <param name="PackedCodes">Whether the codes are stored as compressed-tensors' packed words (I32), not one I8 each.</param>
public sealed record UnitStateLinear(
    string File,
    string Name,
    int Bits,
    int GroupSize,
    bool Symmetric,
    bool ContiguousGroups,
    long OutFeatures,
    long InFeatures,
    long Groups,
    SafetensorsDtype ScaleDtype,
    bool PackedCodes)
{
    /// <summary>The state file's tensor holding the codes (I32 [out, ceil(in / (32 / bits))] when packed, else I8 [out, in]).</summary>
    public string CodesTensor => Name + UnitStateFile.CodesSuffix;

    /// <summary>The scales ([out, groups]).</summary>
    public string ScalesTensor => Name + UnitStateFile.ScalesSuffix;

    /// <summary>The zero points ([out, groups] I8).</summary>
    public string ZeroPointsTensor => Name + UnitStateFile.ZeroPointsSuffix;

    /// <summary>The group of each column ([in] I32).</summary>
    public string GIdxTensor => Name + UnitStateFile.GIdxSuffix;
}
