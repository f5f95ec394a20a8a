using System.Collections.Immutable;
using System.Text.Json;

namespace MoeQuant.Model.Config;

/// <summary>
/// Builds a <see cref="DeepseekV3Config"/> from config.json text (FORMATS.md §2.1–2.3). Fields that set tensor shapes
/// are required, because defaulting them would silently describe another model; transformers writes every
/// model-specific attribute, so real configs always have them. Unknown keys are ignored.
/// </summary>
internal static class DeepseekV3ConfigParser
{
    public static DeepseekV3Config Parse(string json, string configPath)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ConfigException(configPath, null, $"is not valid JSON: {e.Message}", e);
        }

        using (document)
        {
            var c = ConfigJson.Root(document.RootElement, configPath);
            var (architectures, modelType) = ParseArchitecture(c);
            var maxPositions = c.RequiredInt("max_position_embeddings");
            var (ropeTheta, ropeScaling) = ParseRope(c, maxPositions);
            var numAttentionHeads = c.RequiredInt("num_attention_heads");
            var config = new DeepseekV3Config
            {
                Architectures = architectures,
                ModelType = modelType,
                VocabSize = c.RequiredInt("vocab_size"),
                HiddenSize = c.RequiredInt("hidden_size"),
                IntermediateSize = c.RequiredInt("intermediate_size"),
                MoeIntermediateSize = c.RequiredInt("moe_intermediate_size"),
                NumHiddenLayers = c.RequiredInt("num_hidden_layers"),
                NumNextnPredictLayers = c.OptionalInt("num_nextn_predict_layers") ?? 0,
                NumAttentionHeads = numAttentionHeads,
                NumKeyValueHeads = c.OptionalInt("num_key_value_heads") ?? numAttentionHeads,
                QLoraRank = c.RequiredNullableInt("q_lora_rank", "queries use a direct q_proj"),
                KvLoraRank = c.RequiredInt("kv_lora_rank"),
                QkNopeHeadDim = c.RequiredInt("qk_nope_head_dim"),
                QkRopeHeadDim = c.RequiredInt("qk_rope_head_dim"),
                VHeadDim = c.RequiredInt("v_head_dim"),
                NRoutedExperts = c.RequiredNullableInt("n_routed_experts", "every layer is dense"),
                NSharedExperts = c.RequiredInt("n_shared_experts"),
                NumExpertsPerTok = c.RequiredInt("num_experts_per_tok"),
                NGroup = c.RequiredInt("n_group"),
                TopkGroup = c.RequiredInt("topk_group"),
                FirstKDenseReplace = c.RequiredInt("first_k_dense_replace"),
                MoeLayerFreq = c.OptionalInt("moe_layer_freq") ?? 1,
                RoutedScalingFactor = c.RequiredDouble("routed_scaling_factor"),
                ScoringFunc = c.OptionalString("scoring_func") ?? "sigmoid",
                TopkMethod = c.OptionalString("topk_method") ?? "noaux_tc",
                NormTopkProb = c.RequiredBool("norm_topk_prob"),
                HiddenAct = c.RequiredString("hidden_act"),
                RmsNormEps = c.RequiredDouble("rms_norm_eps"),
                MaxPositionEmbeddings = maxPositions,
                RopeTheta = ropeTheta,
                RopeScaling = ropeScaling,
                RopeInterleave = c.OptionalBool("rope_interleave") ?? true,
                TieWordEmbeddings = c.OptionalBool("tie_word_embeddings") ?? false,
                AttentionBias = c.OptionalBool("attention_bias") ?? false,
                BosTokenId = c.OptionalInt("bos_token_id"),
                EosTokenIds = c.OptionalIntOrIntArray("eos_token_id"),
                TorchDtype = ParseDtype(c),
                Fp8Quantization = ParseQuantization(c),
            };
            Validate(config, c);
            return config;
        }
    }

    private static (ImmutableArray<string> Architectures, string? ModelType) ParseArchitecture(ConfigJson c)
    {
        var architectures = c.OptionalStringArray("architectures") ?? [];
        var modelType = c.OptionalString("model_type");
        if (architectures.Contains(DeepseekV3Config.ArchitectureName)
            || (architectures.IsEmpty && modelType == DeepseekV3Config.ModelTypeName))
        {
            return (architectures, modelType);
        }

        var wanted = $"MoeQuant supports {DeepseekV3Config.ArchitectureName} (DeepSeek-V3/R1, Kimi-K2, Moonlight)";
        throw !architectures.IsEmpty
            ? c.Error("architectures", $"names {string.Join(", ", architectures)}, which is not supported: {wanted}")
            : modelType is not null
                ? c.Error("model_type", $"is {modelType} and no architectures are given: {wanted}")
                : c.Error("architectures", $"is missing: {wanted}");
    }

    // transformers v5 moved rope_theta and the scaling into rope_parameters (which is then always written, with
    // rope_type "default" when unscaled); older configs keep rope_theta at top level (FORMATS.md §2.2).
    private static (double Theta, RopeScaling? Scaling) ParseRope(ConfigJson c, int maxPositions)
    {
        var parameters = c.OptionalObject("rope_parameters");
        var theta = c.OptionalDouble("rope_theta") ?? parameters?.OptionalDouble("rope_theta") ?? 10000.0;
        if (theta <= 0)
        {
            throw c.Error("rope_theta", $"must be positive, not {theta}");
        }

        var scaling = parameters ?? c.OptionalObject("rope_scaling");
        var type = scaling?.OptionalString("rope_type") ?? scaling?.OptionalString("type") ?? "default";
        if (scaling is null || type == "default")
        {
            return (theta, null);
        }

        var factor = scaling.RequiredDouble("factor");
        if (factor <= 0)
        {
            throw scaling.Error("factor", $"must be positive, not {factor}");
        }

        return (theta, new RopeScaling(
            type,
            factor,
            scaling.OptionalInt("original_max_position_embeddings") ?? maxPositions,
            scaling.OptionalDouble("beta_fast") ?? 32.0,
            scaling.OptionalDouble("beta_slow") ?? 1.0,
            scaling.OptionalDouble("mscale") ?? 1.0,
            scaling.OptionalDouble("mscale_all_dim") ?? 0.0));
    }

    // v5 writes "dtype", earlier versions "torch_dtype"; it is the dtype of every tensor that is not FP8.
    private static string? ParseDtype(ConfigJson c)
    {
        var field = c.Has("dtype") ? "dtype" : "torch_dtype";
        var dtype = c.OptionalString(field);
        return dtype is null or "bfloat16" or "float16" or "float32"
            ? dtype
            : throw c.Error(field, $"is {dtype}; MoeQuant reads bfloat16, float16 or float32 checkpoints");
    }

    private static Fp8QuantizationConfig? ParseQuantization(ConfigJson c)
    {
        var q = c.OptionalObject("quantization_config");
        if (q is null)
        {
            return null;
        }

        var method = q.RequiredString("quant_method");
        if (method != "fp8")
        {
            throw q.Error("quant_method", $"is {method}; MoeQuant reads unquantized or block-FP8 (\"fp8\") checkpoints");
        }

        var fmt = q.OptionalString("fmt") ?? "e4m3";
        if (fmt != "e4m3")
        {
            throw q.Error("fmt", $"is {fmt}; only e4m3 (float8_e4m3fn) is supported");
        }

        var block = q.OptionalIntArray("weight_block_size")
            ?? throw q.Error("weight_block_size", "is missing; only block-wise FP8 with weight_scale_inv is supported");
        if (block.Length != 2 || block.Any(b => b <= 0))
        {
            throw q.Error("weight_block_size", $"must be two positive integers [rows, cols], not [{string.Join(", ", block)}]");
        }

        return new Fp8QuantizationConfig(method, fmt, q.OptionalString("activation_scheme") ?? "dynamic", block);
    }

    private static void Validate(DeepseekV3Config m, ConfigJson c)
    {
        void Require(bool ok, string field, string problem)
        {
            if (!ok)
            {
                throw c.Error(field, problem);
            }
        }

        void Positive(long value, string field) => Require(value > 0, field, $"must be positive, not {value}");
        void NonNegative(long value, string field) => Require(value >= 0, field, $"must not be negative, not {value}");

        Positive(m.VocabSize, "vocab_size");
        Positive(m.HiddenSize, "hidden_size");
        Positive(m.IntermediateSize, "intermediate_size");
        Positive(m.MoeIntermediateSize, "moe_intermediate_size");
        Positive(m.NumHiddenLayers, "num_hidden_layers");
        NonNegative(m.NumNextnPredictLayers, "num_nextn_predict_layers");
        Positive(m.NumAttentionHeads, "num_attention_heads");
        Positive(m.NumKeyValueHeads, "num_key_value_heads");
        Require(m.QLoraRank is null or > 0, "q_lora_rank", $"must be positive or null, not {m.QLoraRank}");
        Positive(m.KvLoraRank, "kv_lora_rank");
        NonNegative(m.QkNopeHeadDim, "qk_nope_head_dim");
        Positive(m.QkRopeHeadDim, "qk_rope_head_dim");
        Require(m.QkRopeHeadDim % 2 == 0, "qk_rope_head_dim", $"must be even (rotary pairs), not {m.QkRopeHeadDim}");
        Positive(m.VHeadDim, "v_head_dim");
        Positive(m.MaxPositionEmbeddings, "max_position_embeddings");
        NonNegative(m.FirstKDenseReplace, "first_k_dense_replace");
        Positive(m.MoeLayerFreq, "moe_layer_freq");
        NonNegative(m.NSharedExperts, "n_shared_experts");
        Require(m.RmsNormEps > 0, "rms_norm_eps", $"must be positive, not {m.RmsNormEps}");
        Require(m.RoutedScalingFactor > 0, "routed_scaling_factor", $"must be positive, not {m.RoutedScalingFactor}");
        if (m.NRoutedExperts is not { } experts)
        {
            return;
        }

        // Routing picks topk_group of n_group equal groups, then num_experts_per_tok experts inside them.
        Positive(experts, "n_routed_experts");
        Positive(m.NumExpertsPerTok, "num_experts_per_tok");
        Require(m.NumExpertsPerTok <= experts, "num_experts_per_tok",
            $"({m.NumExpertsPerTok}) exceeds n_routed_experts ({experts})");
        Positive(m.NGroup, "n_group");
        Require(experts % m.NGroup == 0, "n_group", $"({m.NGroup}) does not divide n_routed_experts ({experts})");
        Require(m.TopkGroup >= 1 && m.TopkGroup <= m.NGroup, "topk_group",
            $"({m.TopkGroup}) must be between 1 and n_group ({m.NGroup})");
        Require(m.NumExpertsPerTok <= m.TopkGroup * (experts / m.NGroup), "num_experts_per_tok",
            $"({m.NumExpertsPerTok}) exceeds the experts in topk_group ({m.TopkGroup}) groups of {experts / m.NGroup}");
    }
}
