using System.Collections.Immutable;

namespace MoeQuant.Model.Config;

/// <summary>
/// The block-FP8 <c>quantization_config</c> of the published DeepSeek-V3/R1 weights (FORMATS.md §2.3): Linear
/// weights stored as F8_E4M3 with one F32 <c>weight_scale_inv</c> per block.
/// </summary>
/// <param name="QuantMethod">Always "fp8"; other methods are rejected when parsing.</param>
/// <param name="Fmt">Always "e4m3" (torch.float8_e4m3fn).</param>
/// <param name="ActivationScheme">"dynamic" for DeepSeek-V3; irrelevant to weight conversion.</param>
/// <param name="WeightBlockSize">Rows and columns of weight covered by one scale: [128, 128].</param>
public sealed record Fp8QuantizationConfig(
    string QuantMethod,
    string Fmt,
    string ActivationScheme,
    ImmutableArray<int> WeightBlockSize)
{
    /// <summary>Shape of the scale tensor of an FP8 weight of shape [out, in]: [ceil(out/rows), ceil(in/cols)].</summary>
    public ImmutableArray<long> ScaleShape(ImmutableArray<long> weightShape) =>
    [
        CeilDiv(weightShape[0], WeightBlockSize[0]),
        CeilDiv(weightShape[1], WeightBlockSize[1]),
    ];

    private static long CeilDiv(long n, int d) => (n + d - 1) / d;
}
