namespace MoeQuant.Model.Config;

/// <summary>
/// Non-default rotary embedding scaling, from <c>rope_parameters</c> (transformers v5) or <c>rope_scaling</c>
/// (hub remote code and transformers 4.5x). DeepSeek-V3 uses YaRN (FORMATS.md §2.1, §2.2).
/// </summary>
/// <param name="Type">"yarn" for DeepSeek-V3; kept as written (rope_type ?? type) for other methods.</param>
/// <param name="Factor">Context extension factor (40 for DeepSeek-V3).</param>
/// <param name="OriginalMaxPositionEmbeddings">Pre-extension context; max_position_embeddings when the config omits it, as transformers does.</param>
/// <param name="BetaFast">YaRN high-frequency boundary (default 32).</param>
/// <param name="BetaSlow">YaRN low-frequency boundary (default 1).</param>
/// <param name="Mscale">YaRN attention-magnitude coefficient (default 1).</param>
/// <param name="MscaleAllDim">Coefficient of the softmax-scale correction; 0 (the default) disables it.</param>
public sealed record RopeScaling(
    string Type,
    double Factor,
    int OriginalMaxPositionEmbeddings,
    double BetaFast,
    double BetaSlow,
    double Mscale,
    double MscaleAllDim)
{
    /// <summary>YaRN's magnitude correction: 0.1·<paramref name="mscale"/>·ln(factor) + 1, or 1 when factor ≤ 1.</summary>
    public double YarnMscale(double mscale) => Factor <= 1 ? 1.0 : (0.1 * mscale * Math.Log(Factor)) + 1.0;
}
