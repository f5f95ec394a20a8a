using static TorchSharp.torch;

namespace MoeQuant.Model.Quantized;

/// <summary>
/// One quantized linear weight as MoeQuant keeps it between quantization and export, in compressed-tensors' convention
/// (FORMATS.md §3): <c>W[r, c] = Scales[r, g] × (Codes[r, c] − ZeroPoints[r, g])</c> with <c>g = GIdx[c]</c>. The
/// tensors are CPU tensors owned by this object.
/// </summary>
/// <param name="Name">Module name without <c>.weight</c>, e.g. <c>model.layers.3.mlp.experts.5.gate_proj</c>.</param>
/// <param name="Codes">[out, in] int8: signed codes in <c>[−2^(b−1), 2^(b−1)−1]</c>, natural column order.</param>
/// <param name="Scales">[out, groups] bfloat16, float16 or float32: positive scales.</param>
/// <param name="ZeroPoints">[out, groups] int8: signed zero points (all 0 when symmetric).</param>
/// <param name="GIdx">[in] int32: the group of each input column.</param>
/// <param name="Bits">Code width.</param>
/// <param name="GroupSize">Columns per group (the input width for one group per row).</param>
/// <param name="Symmetric">Whether the zero points are all 0.</param>
/// <param name="ContiguousGroups">Whether <c>GIdx[c] = c / GroupSize</c>, so no g_idx needs exporting.</param>
public sealed record QuantizedLinear(
    string Name,
    Tensor Codes,
    Tensor Scales,
    Tensor ZeroPoints,
    Tensor GIdx,
    int Bits,
    int GroupSize,
    bool Symmetric,
    bool ContiguousGroups) : IDisposable
{
    /// <summary>Rows of the weight.</summary>
    public long OutFeatures => Codes.shape[0];

    /// <summary>Columns of the weight.</summary>
    public long InFeatures => Codes.shape[1];

    /// <summary>
    /// The weight an inference kernel reconstructs, [out, in] in the scales' dtype: computed in fp32 (exact: a small
    /// integer times a scale) and rounded once, as the GPTQ engine produced it.
    /// </summary>
    public Tensor Dequantize()
    {
        using var scope = NewDisposeScope();
        var groups = GIdx.to_type(ScalarType.Int64);
        var scale = Scales.to_type(ScalarType.Float32).index_select(1, groups);
        var zero = ZeroPoints.to_type(ScalarType.Float32).index_select(1, groups);
        return Codes.to_type(ScalarType.Float32).sub(zero).mul(scale).to_type(Scales.dtype).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Codes.Dispose();
        Scales.Dispose();
        ZeroPoints.Dispose();
        GIdx.Dispose();
    }
}
