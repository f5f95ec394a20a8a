using static TorchSharp.torch;

namespace MoeQuant.Kernels.Quantization;

/// <summary>How a group's scale is chosen.</summary>
public enum ScaleSearch
{
    /// <summary>From the group's range (min–max); MoE-Quant's default <c>absmax</c>.</summary>
    AbsMax,

    /// <summary>
    /// MoE-Quant's <c>mse</c>: 100 shrink factors <c>linspace(1.0, 0.2, 100)</c> of the absmax scale, zero point fixed,
    /// keeping the one with the least <c>Σ|dequant(quant(x)) − x|^2.4</c> (the first on ties).
    /// </summary>
    Mse,
}

/// <summary>How a real value <c>x/scale + zero</c> becomes an integer code.</summary>
public enum CodeRounding
{
    /// <summary><c>floor(v + 0.5)</c>, as MoE-Quant's Triton kernel does (the default).</summary>
    HalfUp,

    /// <summary><c>round(v)</c> with ties to even, as the GPTQ paper's torch code and GPTQModel do.</summary>
    HalfEven,
}

/// <summary>
/// One quantizer: <paramref name="Bits"/>-bit unsigned codes <c>u ∈ [0, MaxCode]</c>, a positive scale and an integer
/// zero point <c>z ∈ [0, MaxCode]</c> per (row, group), value <c>= scale · (u − z)</c> rounded to
/// <paramref name="ScaleDtype"/>.
/// </summary>
/// <param name="Bits">Code width, 2..8.</param>
/// <param name="Symmetric">Symmetric: <c>z = 2^(Bits−1)</c> for every group. Otherwise the zero point is fitted.</param>
/// <param name="Search">How each scale is chosen.</param>
/// <param name="ScaleDtype">Storage dtype of scales and dequantized values: BFloat16, Float16 or Float32.</param>
/// <param name="Rounding">Rounding of codes.</param>
public sealed record QuantizerSpec(int Bits, bool Symmetric, ScaleSearch Search, ScalarType ScaleDtype, CodeRounding Rounding)
{
    /// <summary>Largest unsigned code, <c>2^Bits − 1</c>.</summary>
    public int MaxCode => (1 << Bits) - 1;

    /// <summary>
    /// <c>2^(Bits−1)</c>: the symmetric zero point, and the offset between these unsigned codes and compressed-tensors'
    /// signed ones (<c>q = u − ZeroOffset</c>).
    /// </summary>
    public int ZeroOffset => 1 << (Bits - 1);

    /// <summary>
    /// Smallest scale allowed: the smallest normal number of <see cref="ScaleDtype"/>. An all-zero group would otherwise
    /// get a scale that rounds to 0 in fp16 and turns <c>0/0</c> into NaN (GPTQ.md §4.1).
    /// </summary>
    public double SmallestScale => ScaleDtype == ScalarType.Float16 ? Math.Pow(2, -14) : Math.Pow(2, -126);
}
