using System.Collections.Immutable;
using MoeQuant.Model.Checkpoint;

namespace MoeQuant.Model.Config;

/// <summary>
/// A DeepSeek-V3-architecture config.json (DeepSeek-V3/R1, Kimi-K2, Moonlight): every field that the forward pass,
/// quantization and export read. Field names follow the hub config (FORMATS.md §2.1); <see cref="Parse"/> also
/// accepts the transformers 4.5x/5.x spellings (§2.2). Values are validated, so code using them need not recheck.
/// </summary>
public sealed partial record DeepseekV3Config
{
    /// <summary>The <c>architectures</c> entry MoeQuant supports.</summary>
    public const string ArchitectureName = "DeepseekV3ForCausalLM";

    /// <summary>The <c>model_type</c> accepted when <c>architectures</c> is absent.</summary>
    public const string ModelTypeName = "deepseek_v3";

    /// <summary><c>architectures</c> as written; empty when absent.</summary>
    public required ImmutableArray<string> Architectures { get; init; }

    /// <summary><c>model_type</c> ("deepseek_v3", or "kimi_k2" for Kimi-K2), or null when absent.</summary>
    public required string? ModelType { get; init; }

    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }

    /// <summary>Width of the dense MLP of layers below <see cref="FirstKDenseReplace"/>.</summary>
    public required int IntermediateSize { get; init; }

    /// <summary>Width of one routed expert; the shared-expert block is this × <see cref="NSharedExperts"/>.</summary>
    public required int MoeIntermediateSize { get; init; }

    /// <summary>Main decoder layers 0 .. n-1.</summary>
    public required int NumHiddenLayers { get; init; }

    /// <summary>Multi-token-prediction layers, stored after the main ones (index <see cref="NumHiddenLayers"/>).</summary>
    public required int NumNextnPredictLayers { get; init; }

    public required int NumAttentionHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }

    /// <summary>Rank of the low-rank query path (q_a_proj, q_b_proj); null selects a direct q_proj.</summary>
    public required int? QLoraRank { get; init; }

    public required int KvLoraRank { get; init; }
    public required int QkNopeHeadDim { get; init; }
    public required int QkRopeHeadDim { get; init; }
    public required int VHeadDim { get; init; }

    /// <summary>Routed experts per MoE layer; null for a model with dense layers only.</summary>
    public required int? NRoutedExperts { get; init; }

    public required int NSharedExperts { get; init; }
    public required int NumExpertsPerTok { get; init; }
    public required int NGroup { get; init; }
    public required int TopkGroup { get; init; }
    public required int FirstKDenseReplace { get; init; }
    public required int MoeLayerFreq { get; init; }
    public required double RoutedScalingFactor { get; init; }

    /// <summary>"sigmoid" (DeepSeek-V3) or "softmax".</summary>
    public required string ScoringFunc { get; init; }

    /// <summary>"noaux_tc" (DeepSeek-V3: bias-corrected group-limited top-k) or an older method.</summary>
    public required string TopkMethod { get; init; }

    public required bool NormTopkProb { get; init; }
    public required string HiddenAct { get; init; }
    public required double RmsNormEps { get; init; }
    public required int MaxPositionEmbeddings { get; init; }
    public required double RopeTheta { get; init; }

    /// <summary>Rotary scaling (YaRN for DeepSeek-V3), or null for plain RoPE.</summary>
    public required RopeScaling? RopeScaling { get; init; }

    /// <summary>Whether the rope dims of q and k are stored as interleaved pairs (transformers v5; default true).</summary>
    public required bool RopeInterleave { get; init; }

    public required bool TieWordEmbeddings { get; init; }
    public required bool AttentionBias { get; init; }
    public required int? BosTokenId { get; init; }

    /// <summary>End-of-sequence ids; HF allows one id or a list.</summary>
    public required ImmutableArray<int> EosTokenIds { get; init; }

    /// <summary><c>dtype</c> (v5) or <c>torch_dtype</c>: "bfloat16", "float16" or "float32"; null when absent.</summary>
    public required string? TorchDtype { get; init; }

    /// <summary>The block-FP8 quantization of the stored weights, or null for an unquantized checkpoint.</summary>
    public required Fp8QuantizationConfig? Fp8Quantization { get; init; }

    /// <summary>Reads and validates the config.json at <paramref name="configPath"/>.</summary>
    /// <exception cref="ConfigException">The file is missing, unreadable or invalid.</exception>
    public static DeepseekV3Config Load(string configPath)
    {
        string json;
        try
        {
            json = File.ReadAllText(configPath);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ConfigException(configPath, null, "not found (a checkpoint folder must hold config.json)", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(configPath, null, $"cannot be read: {e.Message}", e);
        }

        return Parse(json, configPath);
    }

    /// <summary>Parses and validates config.json text; <paramref name="configPath"/> names the file in errors.</summary>
    /// <exception cref="ConfigException">The text is not a valid DeepSeek-V3 config.</exception>
    public static DeepseekV3Config Parse(string json, string configPath) => DeepseekV3ConfigParser.Parse(json, configPath);

    /// <summary>Number of decoder layers stored: main plus MTP.</summary>
    public int TotalLayers => NumHiddenLayers + NumNextnPredictLayers;

    /// <summary>Query/key head width: nope + rope (192 for DeepSeek-V3).</summary>
    public int QkHeadDim => QkNopeHeadDim + QkRopeHeadDim;

    /// <summary>
    /// Attention softmax scale: QkHeadDim^-0.5, times mscale² under YaRN with a nonzero mscale_all_dim
    /// (FORMATS.md §2.1; ≈ 0.1353 for DeepSeek-V3).
    /// </summary>
    public double SoftmaxScale
    {
        get
        {
            var scale = 1.0 / Math.Sqrt(QkHeadDim);
            if (RopeScaling is { MscaleAllDim: not 0.0 } rope)
            {
                var m = rope.YarnMscale(rope.MscaleAllDim);
                scale *= m * m;
            }

            return scale;
        }
    }

    /// <summary>Stored dtype of tensors that are not FP8 (norms, embeddings, and every weight without FP8).</summary>
    public SafetensorsDtype ParameterDtype => TorchDtype switch
    {
        "float16" => SafetensorsDtype.F16,
        "float32" => SafetensorsDtype.F32,
        _ => SafetensorsDtype.BF16,
    };

    /// <summary>Whether <paramref name="layer"/> is a multi-token-prediction layer rather than a main one.</summary>
    public bool IsMtpLayer(int layer) => layer >= NumHiddenLayers;

    /// <summary>
    /// Whether decoder layer <paramref name="layer"/> has a routed-expert MLP: experts are configured, the layer is
    /// past the first_k_dense_replace dense ones, and on the moe_layer_freq grid (remote-code and vLLM rule).
    /// MTP layers follow the same rule, which makes DeepSeek-V3's layer 61 MoE as stored.
    /// </summary>
    public bool IsMoeLayer(int layer) =>
        NRoutedExperts is not null && layer >= FirstKDenseReplace && layer % MoeLayerFreq == 0;
}
