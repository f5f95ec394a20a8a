using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;

namespace MoeQuant.Model.Tests.Config;

public class DeepseekV3ConfigTests
{
    private const string Path = "/models/DeepSeek-V3/config.json";

    // 192^-0.5 · (0.1·ln 40 + 1)², worked out by hand from FORMATS.md §2.1.
    private static readonly double DeepseekV3Scale = 1.0 / Math.Sqrt(192) * Math.Pow((0.1 * Math.Log(40)) + 1, 2);

    [Fact]
    public void Should_read_every_field_when_parsing_the_DeepSeek_V3_hub_config()
    {
        var c = DeepseekV3Config.Parse(ConfigTexts.DeepseekV3, Path);

        Assert.Equal(new[] { "DeepseekV3ForCausalLM" }, c.Architectures);
        Assert.Equal("deepseek_v3", c.ModelType);
        Assert.Equal(129280, c.VocabSize);
        Assert.Equal(7168, c.HiddenSize);
        Assert.Equal(18432, c.IntermediateSize);
        Assert.Equal(2048, c.MoeIntermediateSize);
        Assert.Equal(61, c.NumHiddenLayers);
        Assert.Equal(1, c.NumNextnPredictLayers);
        Assert.Equal(128, c.NumAttentionHeads);
        Assert.Equal(128, c.NumKeyValueHeads);
        Assert.Equal(1536, c.QLoraRank);
        Assert.Equal(512, c.KvLoraRank);
        Assert.Equal(128, c.QkNopeHeadDim);
        Assert.Equal(64, c.QkRopeHeadDim);
        Assert.Equal(128, c.VHeadDim);
        Assert.Equal(256, c.NRoutedExperts);
        Assert.Equal(1, c.NSharedExperts);
        Assert.Equal(8, c.NumExpertsPerTok);
        Assert.Equal(8, c.NGroup);
        Assert.Equal(4, c.TopkGroup);
        Assert.Equal(3, c.FirstKDenseReplace);
        Assert.Equal(1, c.MoeLayerFreq);
        Assert.Equal(2.5, c.RoutedScalingFactor);
        Assert.Equal("sigmoid", c.ScoringFunc);
        Assert.Equal("noaux_tc", c.TopkMethod);
        Assert.True(c.NormTopkProb);
        Assert.Equal("silu", c.HiddenAct);
        Assert.Equal(1e-6, c.RmsNormEps);
        Assert.Equal(163840, c.MaxPositionEmbeddings);
        Assert.Equal(10000.0, c.RopeTheta);
        Assert.Equal(new RopeScaling("yarn", 40, 4096, 32, 1, 1.0, 1.0), c.RopeScaling);
        Assert.True(c.RopeInterleave);
        Assert.False(c.TieWordEmbeddings);
        Assert.False(c.AttentionBias);
        Assert.Equal(0, c.BosTokenId);
        Assert.Equal(new[] { 1 }, c.EosTokenIds);
        Assert.Equal("bfloat16", c.TorchDtype);
        Assert.Equal(SafetensorsDtype.BF16, c.ParameterDtype);
        var fp8 = Assert.IsType<Fp8QuantizationConfig>(c.Fp8Quantization);
        Assert.Equal(("fp8", "e4m3", "dynamic"), (fp8.QuantMethod, fp8.Fmt, fp8.ActivationScheme));
        Assert.Equal(new[] { 128, 128 }, fp8.WeightBlockSize);

        Assert.Equal(192, c.QkHeadDim);
        Assert.Equal(62, c.TotalLayers);
        Assert.Equal(0.1353, c.SoftmaxScale, tolerance: 1e-4); // FORMATS.md's "≈ 0.1353"; exactly 0.135234
        Assert.Equal(DeepseekV3Scale, c.SoftmaxScale, 12);
    }

    [Fact]
    public void Should_place_dense_MoE_and_MTP_layers_when_first_k_dense_replace_is_3()
    {
        var c = DeepseekV3Config.Parse(ConfigTexts.DeepseekV3, Path);

        Assert.Equal([false, false, false, true, true], Enumerable.Range(0, 5).Select(c.IsMoeLayer));
        Assert.True(c.IsMoeLayer(60));
        Assert.False(c.IsMtpLayer(60));
        Assert.True(c.IsMtpLayer(61));
        Assert.True(c.IsMoeLayer(61));
    }

    [Fact]
    public void Should_read_the_same_model_when_the_config_uses_transformers_5_spellings()
    {
        var hub = DeepseekV3Config.Parse(ConfigTexts.DeepseekV3, Path);
        var v5 = DeepseekV3Config.Parse(ConfigTexts.DeepseekV3Transformers5, Path);

        Assert.Equal(10000.0, v5.RopeTheta);
        Assert.Equal(new RopeScaling("yarn", 40, 4096, 32, 1, 1.0, 1.0), v5.RopeScaling);
        Assert.True(v5.RopeInterleave);
        Assert.Equal("bfloat16", v5.TorchDtype);
        Assert.Equal("sigmoid", v5.ScoringFunc);
        Assert.Equal("noaux_tc", v5.TopkMethod);
        Assert.Equal(1, v5.MoeLayerFreq);
        Assert.Equal(0, v5.NumNextnPredictLayers);
        Assert.Null(v5.Fp8Quantization);
        Assert.Equal(hub.SoftmaxScale, v5.SoftmaxScale, 12);

        // Apart from what the v5 file leaves out (MTP count, FP8), it describes the same model.
        Assert.Equal(hub with { NumNextnPredictLayers = 0, Fp8Quantization = null, RopeScaling = v5.RopeScaling, EosTokenIds = v5.EosTokenIds, Architectures = v5.Architectures }, v5);
    }

    [Fact]
    public void Should_prefer_rope_parameters_when_a_config_has_both_spellings()
    {
        var json = ConfigTexts.DeepseekV3With(o =>
        {
            o.Remove("rope_theta");
            o["rope_parameters"] = new System.Text.Json.Nodes.JsonObject { ["rope_type"] = "yarn", ["factor"] = 8.0, ["rope_theta"] = 20000.0 };
        });

        var c = DeepseekV3Config.Parse(json, Path);

        Assert.Equal(20000.0, c.RopeTheta);
        Assert.Equal(new RopeScaling("yarn", 8, 163840, 32, 1, 1, 0), c.RopeScaling);
        Assert.Equal(1.0 / Math.Sqrt(192), c.SoftmaxScale, 12);
    }

    [Fact]
    public void Should_have_no_rope_scaling_when_rope_parameters_say_default()
    {
        var json = ConfigTexts.DeepseekV3With(o =>
        {
            o.Remove("rope_scaling");
            o.Remove("rope_theta");
            o["rope_parameters"] = new System.Text.Json.Nodes.JsonObject { ["rope_type"] = "default", ["rope_theta"] = 50000.0 };
        });

        var c = DeepseekV3Config.Parse(json, Path);

        Assert.Null(c.RopeScaling);
        Assert.Equal(50000.0, c.RopeTheta);
        Assert.Equal(1.0 / Math.Sqrt(192), c.SoftmaxScale, 12);
    }

    [Fact]
    public void Should_accept_rope_type_and_a_list_of_eos_ids_when_saved_by_transformers_4()
    {
        var json = ConfigTexts.DeepseekV3With(o =>
        {
            var rope = o["rope_scaling"]!.AsObject();
            rope.Remove("type");
            rope["rope_type"] = "yarn";
            o["eos_token_id"] = new System.Text.Json.Nodes.JsonArray(1, 2);
        });

        var c = DeepseekV3Config.Parse(json, Path);

        Assert.Equal("yarn", c.RopeScaling!.Type);
        Assert.Equal(new[] { 1, 2 }, c.EosTokenIds);
    }

    [Fact]
    public void Should_read_a_Kimi_K2_config_when_it_uses_the_DeepSeek_V3_architecture_with_other_sizes()
    {
        var c = DeepseekV3Config.Parse(ConfigTexts.KimiK2, Path);

        Assert.Equal("kimi_k2", c.ModelType);
        Assert.Equal(384, c.NRoutedExperts);
        Assert.Equal((1, 1), (c.NGroup, c.TopkGroup));
        Assert.Equal(64, c.NumAttentionHeads);
        Assert.Equal(163840, c.VocabSize);
        Assert.Equal(50000.0, c.RopeTheta);
        Assert.Equal(2.827, c.RoutedScalingFactor);
        Assert.Equal(new RopeScaling("yarn", 32, 4096, 1, 1, 1, 1), c.RopeScaling);
        Assert.False(c.IsMoeLayer(0));
        Assert.True(c.IsMoeLayer(1));
        Assert.Equal(61, c.TotalLayers);
        var m = (0.1 * Math.Log(32)) + 1;
        Assert.Equal(m * m / Math.Sqrt(192), c.SoftmaxScale, 12);
    }

    [Fact]
    public void Should_select_the_direct_q_proj_path_when_q_lora_rank_is_null()
    {
        var c = DeepseekV3Config.Parse(ConfigTexts.Moonlight, Path);

        Assert.Null(c.QLoraRank);
        Assert.Null(c.RopeScaling);
        Assert.Null(c.Fp8Quantization);
        Assert.Equal((64, 6, 2), (c.NRoutedExperts!.Value, c.NumExpertsPerTok, c.NSharedExperts));
        Assert.Equal(1.0 / Math.Sqrt(192), c.SoftmaxScale, 12);
    }

    [Fact]
    public void Should_have_only_dense_layers_when_n_routed_experts_is_null()
    {
        var c = DeepseekV3Config.Parse(ConfigTexts.DeepseekV3With(o => o["n_routed_experts"] = null), Path);

        Assert.Null(c.NRoutedExperts);
        Assert.DoesNotContain(Enumerable.Range(0, c.TotalLayers), c.IsMoeLayer);
    }

    [Fact]
    public void Should_accept_the_config_when_only_model_type_names_deepseek_v3()
    {
        var c = DeepseekV3Config.Parse(ConfigTexts.DeepseekV3With(o => o.Remove("architectures")), Path);

        Assert.Empty(c.Architectures);
        Assert.Equal("deepseek_v3", c.ModelType);
    }

    [Fact]
    public void Should_use_every_second_layer_for_experts_when_moe_layer_freq_is_2()
    {
        var c = DeepseekV3Config.Parse(ConfigTexts.DeepseekV3With(o => o["moe_layer_freq"] = 2), Path);

        Assert.Equal([false, false, false, false, true, false, true], Enumerable.Range(0, 7).Select(c.IsMoeLayer));
    }
}
