using System.Collections.Immutable;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;

namespace MoeQuant.Model.TinyModel;

/// <summary>
/// A DeepSeek-V3-architecture model small enough to build and run anywhere (562,832 parameters), used for the
/// built-in checkpoint, README's first command and end-to-end tests. It keeps every structural feature of the
/// real model: a dense first layer then MoE layers with grouped routing and a shared expert, low-rank queries,
/// YaRN, an MTP layer, and block-FP8 weights whose 128×128 blocks are all partial at these sizes.
/// </summary>
public static class TinyModelConfig
{
    /// <summary>The name used for the built-in config in messages, as if it were a file.</summary>
    public const string ConfigPath = "<built-in tiny model>/config.json";

    /// <summary>config.json of the tiny model, in the hub (remote-code) spelling of FORMATS.md §2.1.</summary>
    public const string Json = """
        {
          "architectures": ["DeepseekV3ForCausalLM"],
          "model_type": "deepseek_v3",
          "vocab_size": 1024,
          "hidden_size": 64,
          "intermediate_size": 128,
          "moe_intermediate_size": 32,
          "num_hidden_layers": 4,
          "num_nextn_predict_layers": 1,
          "num_attention_heads": 4,
          "num_key_value_heads": 4,
          "q_lora_rank": 32,
          "kv_lora_rank": 16,
          "qk_nope_head_dim": 8,
          "qk_rope_head_dim": 8,
          "v_head_dim": 8,
          "n_routed_experts": 8,
          "n_shared_experts": 1,
          "num_experts_per_tok": 2,
          "n_group": 2,
          "topk_group": 1,
          "first_k_dense_replace": 1,
          "moe_layer_freq": 1,
          "routed_scaling_factor": 2.5,
          "scoring_func": "sigmoid",
          "topk_method": "noaux_tc",
          "norm_topk_prob": true,
          "hidden_act": "silu",
          "rms_norm_eps": 1e-06,
          "max_position_embeddings": 4096,
          "rope_theta": 10000,
          "rope_scaling": {
            "beta_fast": 32,
            "beta_slow": 1,
            "factor": 4,
            "mscale": 1.0,
            "mscale_all_dim": 1.0,
            "original_max_position_embeddings": 1024,
            "type": "yarn"
          },
          "tie_word_embeddings": false,
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 0,
          "eos_token_id": 1,
          "initializer_range": 0.02,
          "use_cache": true,
          "torch_dtype": "bfloat16",
          "quantization_config": {
            "activation_scheme": "dynamic",
            "fmt": "e4m3",
            "quant_method": "fp8",
            "weight_block_size": [128, 128]
          }
        }
        """;

    /// <summary>The parsed tiny config.</summary>
    public static DeepseekV3Config Load() => DeepseekV3Config.Parse(Json, ConfigPath);

    /// <summary>
    /// Headers of the tiny checkpoint as one shard holding <see cref="DeepseekV3Config.ExpectedTensors"/> back to back
    /// in model order. Offsets are only indicative (a safetensors writer orders by dtype), which is enough for
    /// <c>moequant inspect</c>, whose summary never reads them.
    /// </summary>
    public static IReadOnlyList<TensorHeader> TensorHeaders()
    {
        var headers = new List<TensorHeader>();
        var offset = 0L;
        foreach (var tensor in Load().ExpectedTensors())
        {
            var bytes = tensor.Shape.Aggregate(1L, (n, d) => n * d) * tensor.Dtype.ElementSize();
            headers.Add(new TensorHeader(tensor.Name, tensor.Dtype, tensor.Shape, "model.safetensors", offset, bytes));
            offset += bytes;
        }

        return headers;
    }
}
