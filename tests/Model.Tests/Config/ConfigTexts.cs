using System.Text.Json.Nodes;

namespace MoeQuant.Model.Tests.Config;

/// <summary>config.json texts written from FORMATS.md §2.1–2.3, and a helper to derive broken variants.</summary>
internal static class ConfigTexts
{
    /// <summary>DeepSeek-V3's hub config.json, every field of the FORMATS.md §2.1 table.</summary>
    public const string DeepseekV3 = """
        {
          "architectures": ["DeepseekV3ForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "auto_map": {
            "AutoConfig": "configuration_deepseek.DeepseekV3Config",
            "AutoModel": "modeling_deepseek.DeepseekV3Model",
            "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM"
          },
          "bos_token_id": 0,
          "eos_token_id": 1,
          "ep_size": 1,
          "first_k_dense_replace": 3,
          "hidden_act": "silu",
          "hidden_size": 7168,
          "initializer_range": 0.02,
          "intermediate_size": 18432,
          "kv_lora_rank": 512,
          "max_position_embeddings": 163840,
          "model_type": "deepseek_v3",
          "moe_intermediate_size": 2048,
          "moe_layer_freq": 1,
          "n_group": 8,
          "n_routed_experts": 256,
          "n_shared_experts": 1,
          "norm_topk_prob": true,
          "num_attention_heads": 128,
          "num_experts_per_tok": 8,
          "num_hidden_layers": 61,
          "num_key_value_heads": 128,
          "num_nextn_predict_layers": 1,
          "q_lora_rank": 1536,
          "qk_nope_head_dim": 128,
          "qk_rope_head_dim": 64,
          "quantization_config": {
            "activation_scheme": "dynamic",
            "fmt": "e4m3",
            "quant_method": "fp8",
            "weight_block_size": [128, 128]
          },
          "rms_norm_eps": 1e-06,
          "rope_scaling": {
            "beta_fast": 32,
            "beta_slow": 1,
            "factor": 40,
            "mscale": 1.0,
            "mscale_all_dim": 1.0,
            "original_max_position_embeddings": 4096,
            "type": "yarn"
          },
          "rope_theta": 10000,
          "routed_scaling_factor": 2.5,
          "scoring_func": "sigmoid",
          "tie_word_embeddings": false,
          "topk_group": 4,
          "topk_method": "noaux_tc",
          "torch_dtype": "bfloat16",
          "transformers_version": "4.46.3",
          "use_cache": true,
          "v_head_dim": 128,
          "vocab_size": 129280
        }
        """;

    /// <summary>
    /// DeepSeek-V3 as saved by transformers 5 (FORMATS.md §2.2): rope_parameters holding rope_theta and the YaRN
    /// fields as floats, rope_interleave, dtype, the derived head dims, and none of the remote-code-only keys.
    /// </summary>
    public const string DeepseekV3Transformers5 = """
        {
          "architectures": ["DeepseekV3ForCausalLM"],
          "model_type": "deepseek_v3",
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 0,
          "eos_token_id": 1,
          "dtype": "bfloat16",
          "first_k_dense_replace": 3,
          "head_dim": 64,
          "hidden_act": "silu",
          "hidden_size": 7168,
          "initializer_range": 0.02,
          "intermediate_size": 18432,
          "kv_lora_rank": 512,
          "max_position_embeddings": 163840,
          "moe_intermediate_size": 2048,
          "n_group": 8,
          "n_routed_experts": 256,
          "n_shared_experts": 1,
          "norm_topk_prob": true,
          "num_attention_heads": 128,
          "num_experts_per_tok": 8,
          "num_hidden_layers": 61,
          "num_key_value_heads": 128,
          "pretraining_tp": 1,
          "q_lora_rank": 1536,
          "qk_head_dim": 192,
          "qk_nope_head_dim": 128,
          "qk_rope_head_dim": 64,
          "rms_norm_eps": 1e-06,
          "rope_interleave": true,
          "rope_parameters": {
            "beta_fast": 32.0,
            "beta_slow": 1.0,
            "factor": 40.0,
            "mscale": 1.0,
            "mscale_all_dim": 1.0,
            "original_max_position_embeddings": 4096,
            "rope_theta": 10000.0,
            "rope_type": "yarn"
          },
          "routed_scaling_factor": 2.5,
          "tie_word_embeddings": false,
          "topk_group": 4,
          "transformers_version": "5.0.0",
          "use_cache": true,
          "v_head_dim": 128,
          "vocab_size": 129280
        }
        """;

    /// <summary>A Kimi-K2-like config: the DeepSeek-V3 architecture with 384 experts in one group, 64 heads, model_type kimi_k2.</summary>
    public const string KimiK2 = """
        {
          "architectures": ["DeepseekV3ForCausalLM"],
          "attention_bias": false,
          "aux_loss_alpha": 0.001,
          "bos_token_id": 163584,
          "eos_token_id": 163585,
          "first_k_dense_replace": 1,
          "hidden_act": "silu",
          "hidden_size": 7168,
          "intermediate_size": 18432,
          "kv_lora_rank": 512,
          "max_position_embeddings": 131072,
          "model_type": "kimi_k2",
          "moe_intermediate_size": 2048,
          "moe_layer_freq": 1,
          "n_group": 1,
          "n_routed_experts": 384,
          "n_shared_experts": 1,
          "norm_topk_prob": true,
          "num_attention_heads": 64,
          "num_experts_per_tok": 8,
          "num_hidden_layers": 61,
          "num_key_value_heads": 64,
          "num_nextn_predict_layers": 0,
          "q_lora_rank": 1536,
          "qk_nope_head_dim": 128,
          "qk_rope_head_dim": 64,
          "quantization_config": {
            "activation_scheme": "dynamic",
            "fmt": "e4m3",
            "quant_method": "fp8",
            "weight_block_size": [128, 128]
          },
          "rms_norm_eps": 1e-06,
          "rope_scaling": {
            "beta_fast": 1.0,
            "beta_slow": 1.0,
            "factor": 32.0,
            "mscale": 1.0,
            "mscale_all_dim": 1.0,
            "original_max_position_embeddings": 4096,
            "type": "yarn"
          },
          "rope_theta": 50000.0,
          "routed_scaling_factor": 2.827,
          "scoring_func": "sigmoid",
          "seq_aux": true,
          "tie_word_embeddings": false,
          "topk_group": 1,
          "topk_method": "noaux_tc",
          "torch_dtype": "bfloat16",
          "v_head_dim": 128,
          "vocab_size": 163840
        }
        """;

    /// <summary>A Moonlight-like config: q_lora_rank null (direct q_proj), 64 experts, no rope scaling, no quantization.</summary>
    public const string Moonlight = """
        {
          "architectures": ["DeepseekV3ForCausalLM"],
          "model_type": "deepseek_v3",
          "attention_bias": false,
          "bos_token_id": 163584,
          "eos_token_id": 163585,
          "first_k_dense_replace": 1,
          "hidden_act": "silu",
          "hidden_size": 2048,
          "intermediate_size": 11264,
          "kv_lora_rank": 512,
          "max_position_embeddings": 8192,
          "moe_intermediate_size": 1408,
          "moe_layer_freq": 1,
          "n_group": 1,
          "n_routed_experts": 64,
          "n_shared_experts": 2,
          "norm_topk_prob": true,
          "num_attention_heads": 16,
          "num_experts_per_tok": 6,
          "num_hidden_layers": 27,
          "num_key_value_heads": 16,
          "q_lora_rank": null,
          "qk_nope_head_dim": 128,
          "qk_rope_head_dim": 64,
          "rms_norm_eps": 1e-05,
          "rope_scaling": null,
          "rope_theta": 50000.0,
          "routed_scaling_factor": 2.446,
          "scoring_func": "sigmoid",
          "tie_word_embeddings": false,
          "topk_group": 1,
          "topk_method": "noaux_tc",
          "torch_dtype": "bfloat16",
          "v_head_dim": 128,
          "vocab_size": 163840
        }
        """;

    /// <summary>DeepSeek-V3's config with <paramref name="edit"/> applied to its JSON object.</summary>
    public static string DeepseekV3With(Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(DeepseekV3)!.AsObject();
        edit(root);
        return root.ToJsonString();
    }
}
