using MoeQuant.Model.Config;
using MoeQuant.Model.Synthetic;

namespace MoeQuant.Model.Forward;

/// <summary>
/// The shapes of <c>moequant bench forward</c>: one DeepSeek-V3 MoE decoder layer at the real dimensions (hidden 7168,
/// 128 heads, MLA ranks 1536/512, 256 routed experts of 2048, top-8 of 8 groups) with random bf16 weights, timed by
/// <see cref="ForwardVariantBenchmark"/> and compared with tools/bench_hf_layer.py (transformers' own layer, same shapes).
/// </summary>
public static class ForwardBenchmark
{
    /// <summary>DeepSeek-V3's config (FORMATS.md §2.1) with all 61 layers and no MTP layer, unquantized.</summary>
    public static DeepseekV3Config DeepseekV3Dimensions { get; } =
        new SyntheticModelShape { NumHiddenLayers = 61 }.ToConfig() with { Fp8Quantization = null };
}
