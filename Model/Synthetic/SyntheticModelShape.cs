using System.Text.Json;
using System.Text.Json.Nodes;
using MoeQuant.Model.Config;

namespace MoeQuant.Model.Synthetic;

/// <summary>
/// The dimensions of a synthetic DeepSeek-V3 checkpoint. The defaults are DeepSeek-V3's own (FORMATS.md §2.1) except
/// the depth: 3 dense and 2 MoE layers and no MTP layer. Everything else of the config (YaRN rope scaling, sigmoid
/// noaux_tc routing, routed_scaling_factor 2.5, FP8 with 128×128 blocks) is the real model's, whatever the sizes.
/// </summary>
public sealed record SyntheticModelShape
{
    public int VocabSize { get; init; } = 129280;
    public int HiddenSize { get; init; } = 7168;
    public int IntermediateSize { get; init; } = 18432;
    public int MoeIntermediateSize { get; init; } = 2048;
    public int NumHiddenLayers { get; init; } = 5;
    public int FirstKDenseReplace { get; init; } = 3;
    public int NumNextnPredictLayers { get; init; }
    public int NumAttentionHeads { get; init; } = 128;
    public int QLoraRank { get; init; } = 1536;
    public int KvLoraRank { get; init; } = 512;
    public int QkNopeHeadDim { get; init; } = 128;
    public int QkRopeHeadDim { get; init; } = 64;
    public int VHeadDim { get; init; } = 128;
    public int NRoutedExperts { get; init; } = 256;
    public int NSharedExperts { get; init; } = 1;
    public int NumExpertsPerTok { get; init; } = 8;
    public int NGroup { get; init; } = 8;
    public int TopkGroup { get; init; } = 4;

    /// <summary>config.json in the hub spelling (keys sorted, as transformers saves them), with DeepSeek-V3's values
    /// for everything that is not a size.</summary>
    public string ToConfigJson()
    {
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray(DeepseekV3Config.ArchitectureName),
            ["attention_bias"] = false,
            ["attention_dropout"] = 0.0,
            ["bos_token_id"] = 0,
            ["eos_token_id"] = 1,
            ["ep_size"] = 1,
            ["first_k_dense_replace"] = FirstKDenseReplace,
            ["hidden_act"] = "silu",
            ["hidden_size"] = HiddenSize,
            ["initializer_range"] = 0.02,
            ["intermediate_size"] = IntermediateSize,
            ["kv_lora_rank"] = KvLoraRank,
            ["max_position_embeddings"] = 163840,
            ["model_type"] = DeepseekV3Config.ModelTypeName,
            ["moe_intermediate_size"] = MoeIntermediateSize,
            ["moe_layer_freq"] = 1,
            ["n_group"] = NGroup,
            ["n_routed_experts"] = NRoutedExperts,
            ["n_shared_experts"] = NSharedExperts,
            ["norm_topk_prob"] = true,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_experts_per_tok"] = NumExpertsPerTok,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_key_value_heads"] = NumAttentionHeads,
            ["num_nextn_predict_layers"] = NumNextnPredictLayers,
            ["q_lora_rank"] = QLoraRank,
            ["qk_nope_head_dim"] = QkNopeHeadDim,
            ["qk_rope_head_dim"] = QkRopeHeadDim,
            ["quantization_config"] = new JsonObject
            {
                ["activation_scheme"] = "dynamic",
                ["fmt"] = "e4m3",
                ["quant_method"] = "fp8",
                ["weight_block_size"] = new JsonArray(128, 128),
            },
            ["rms_norm_eps"] = 1e-06,
            ["rope_scaling"] = new JsonObject
            {
                ["beta_fast"] = 32,
                ["beta_slow"] = 1,
                ["factor"] = 40,
                ["mscale"] = 1.0,
                ["mscale_all_dim"] = 1.0,
                ["original_max_position_embeddings"] = 4096,
                ["type"] = "yarn",
            },
            ["rope_theta"] = 10000,
            ["routed_scaling_factor"] = 2.5,
            ["scoring_func"] = "sigmoid",
            ["tie_word_embeddings"] = false,
            ["topk_group"] = TopkGroup,
            ["topk_method"] = "noaux_tc",
            ["torch_dtype"] = "bfloat16",
            ["transformers_version"] = "4.46.3",
            ["use_cache"] = true,
            ["v_head_dim"] = VHeadDim,
            ["vocab_size"] = VocabSize,
        };
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>The parsed and validated config; a <see cref="ConfigException"/> names the field that does not fit.</summary>
    public DeepseekV3Config ToConfig() => DeepseekV3Config.Parse(ToConfigJson(), "<synthetic>/config.json");
}
