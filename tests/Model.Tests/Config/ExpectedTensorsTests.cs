using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;
using MoeQuant.Model.TinyModel;

namespace MoeQuant.Model.Tests.Config;

public class ExpectedTensorsTests
{
    private static readonly DeepseekV3Config DeepseekV3 = DeepseekV3Config.Parse(ConfigTexts.DeepseekV3, "config.json");

    [Theory]
    // Rows of the FORMATS.md §2.4 table: name in layer 3 (MoE), dtype, shape.
    [InlineData("input_layernorm.weight", SafetensorsDtype.BF16, new long[] { 7168 })]
    [InlineData("self_attn.q_a_proj.weight", SafetensorsDtype.F8_E4M3, new long[] { 1536, 7168 })]
    [InlineData("self_attn.q_a_proj.weight_scale_inv", SafetensorsDtype.F32, new long[] { 12, 56 })]
    [InlineData("self_attn.q_a_layernorm.weight", SafetensorsDtype.BF16, new long[] { 1536 })]
    [InlineData("self_attn.q_b_proj.weight", SafetensorsDtype.F8_E4M3, new long[] { 24576, 1536 })]
    [InlineData("self_attn.q_b_proj.weight_scale_inv", SafetensorsDtype.F32, new long[] { 192, 12 })]
    [InlineData("self_attn.kv_a_proj_with_mqa.weight", SafetensorsDtype.F8_E4M3, new long[] { 576, 7168 })]
    [InlineData("self_attn.kv_a_proj_with_mqa.weight_scale_inv", SafetensorsDtype.F32, new long[] { 5, 56 })]
    [InlineData("self_attn.kv_a_layernorm.weight", SafetensorsDtype.BF16, new long[] { 512 })]
    [InlineData("self_attn.kv_b_proj.weight_scale_inv", SafetensorsDtype.F32, new long[] { 256, 4 })]
    [InlineData("self_attn.o_proj.weight", SafetensorsDtype.F8_E4M3, new long[] { 7168, 16384 })]
    [InlineData("self_attn.o_proj.weight_scale_inv", SafetensorsDtype.F32, new long[] { 56, 128 })]
    [InlineData("mlp.gate.weight", SafetensorsDtype.BF16, new long[] { 256, 7168 })]
    [InlineData("mlp.gate.e_score_correction_bias", SafetensorsDtype.F32, new long[] { 256 })]
    [InlineData("mlp.experts.255.up_proj.weight", SafetensorsDtype.F8_E4M3, new long[] { 2048, 7168 })]
    [InlineData("mlp.experts.0.down_proj.weight_scale_inv", SafetensorsDtype.F32, new long[] { 56, 16 })]
    [InlineData("mlp.shared_experts.gate_proj.weight_scale_inv", SafetensorsDtype.F32, new long[] { 16, 56 })]
    public void Should_give_the_published_dtype_and_shape_when_listing_a_DeepSeek_V3_MoE_layer(string name, SafetensorsDtype dtype, long[] shape)
    {
        var tensor = Assert.Single(DeepseekV3.ExpectedLayerTensors(3), t => t.Name == "model.layers.3." + name);

        Assert.Equal(dtype, tensor.Dtype);
        Assert.Equal(shape, tensor.Shape);
    }

    [Fact]
    public void Should_list_dense_MLP_tensors_when_the_layer_is_below_first_k_dense_replace()
    {
        var names = DeepseekV3.ExpectedLayerTensors(2).Select(t => t.Name["model.layers.2.".Length..]).ToList();

        Assert.Equal(20, names.Count); // 2 norms, 5 FP8 attention weights + scales, 2 attention norms, 3 FP8 MLP weights + scales
        Assert.Contains("mlp.down_proj.weight_scale_inv", names);
        Assert.DoesNotContain(names, n => n.StartsWith("mlp.gate.", StringComparison.Ordinal) || n.Contains("experts", StringComparison.Ordinal));
        Assert.Equal(new long[] { 7168, 18432 }, DeepseekV3.ExpectedLayerTensors(2).Single(t => t.Name.EndsWith("mlp.down_proj.weight", StringComparison.Ordinal)).Shape);
    }

    [Fact]
    public void Should_add_the_MTP_extras_when_listing_layer_61()
    {
        var mtp = DeepseekV3.ExpectedLayerTensors(61).ToDictionary(t => t.Name);

        Assert.Equal(new long[] { 7168, 14336 }, mtp["model.layers.61.eh_proj.weight"].Shape);
        Assert.Equal(SafetensorsDtype.BF16, mtp["model.layers.61.eh_proj.weight"].Dtype);
        Assert.Equal(new long[] { 129280, 7168 }, mtp["model.layers.61.embed_tokens.weight"].Shape);
        Assert.Equal(new long[] { 129280, 7168 }, mtp["model.layers.61.shared_head.head.weight"].Shape);
        Assert.Contains("model.layers.61.enorm.weight", mtp.Keys);
        Assert.Contains("model.layers.61.hnorm.weight", mtp.Keys);
        Assert.Contains("model.layers.61.shared_head.norm.weight", mtp.Keys);
        Assert.Contains("model.layers.61.mlp.experts.255.down_proj.weight_scale_inv", mtp.Keys);
    }

    [Fact]
    public void Should_count_every_tensor_of_the_checkpoint_when_listing_DeepSeek_V3()
    {
        const int Attention = 2 + (5 * 2) + 2;                  // layer norms, 5 FP8 weights with scales, q_a/kv_a norms
        const int Dense = Attention + (3 * 2);
        const int Moe = Attention + 2 + (256 * 3 * 2) + (3 * 2); // router weight and bias, experts, shared expert
        const int Mtp = Moe + 6;

        var tensors = DeepseekV3.ExpectedTensors();

        Assert.Equal(1 + (3 * Dense) + (58 * Moe) + Mtp + 2, tensors.Count);
        Assert.Equal("model.embed_tokens.weight", tensors[0].Name);
        Assert.Equal(["model.norm.weight", "lm_head.weight"], tensors.TakeLast(2).Select(t => t.Name));
        Assert.Equal(tensors.Count, tensors.Select(t => t.Name).Distinct().Count());
        var scales = tensors.Where(t => t.IsFp8Scale).Select(t => t.Name).ToHashSet();
        Assert.Equal(scales.Count, tensors.Count(t => t.IsFp8));
        Assert.All(tensors.Where(t => t.IsFp8), t => Assert.Contains(t.Name + "_scale_inv", scales));
    }

    [Fact]
    public void Should_list_q_proj_and_unquantized_weights_when_q_lora_rank_is_null_without_FP8()
    {
        var moonlight = DeepseekV3Config.Parse(ConfigTexts.Moonlight, "config.json");

        var layer = moonlight.ExpectedLayerTensors(1).ToDictionary(t => t.Name["model.layers.1.".Length..]);

        Assert.Equal(new long[] { 16 * 192, 2048 }, layer["self_attn.q_proj.weight"].Shape);
        Assert.DoesNotContain(layer.Keys, n => n.StartsWith("self_attn.q_a", StringComparison.Ordinal) || n.EndsWith("_scale_inv", StringComparison.Ordinal));
        Assert.All(layer.Values.Where(t => t.Name.EndsWith(".weight", StringComparison.Ordinal)), t => Assert.Equal(SafetensorsDtype.BF16, t.Dtype));
        Assert.Equal(new long[] { 2 * 1408, 2048 }, layer["mlp.shared_experts.up_proj.weight"].Shape);
        Assert.Contains("mlp.experts.63.gate_proj.weight", layer.Keys);
    }

    [Fact]
    public void Should_add_attention_biases_and_drop_lm_head_when_the_config_asks()
    {
        var config = DeepseekV3Config.Parse(ConfigTexts.DeepseekV3With(o =>
        {
            o["attention_bias"] = true;
            o["tie_word_embeddings"] = true;
        }), "config.json");

        var names = config.ExpectedTensors().Select(t => t.Name).ToHashSet();

        Assert.Contains("model.layers.0.self_attn.q_a_proj.bias", names);
        Assert.Contains("model.layers.0.self_attn.kv_a_proj_with_mqa.bias", names);
        Assert.Contains("model.layers.0.self_attn.o_proj.bias", names);
        Assert.DoesNotContain("model.layers.0.self_attn.q_b_proj.bias", names);
        Assert.DoesNotContain("lm_head.weight", names);
    }

    [Fact]
    public void Should_describe_a_small_FP8_model_with_partial_blocks_when_loading_the_tiny_config()
    {
        var tiny = TinyModelConfig.Load();

        Assert.Equal((64, 4, 1, 8, 2), (tiny.HiddenSize, tiny.NumHiddenLayers, tiny.FirstKDenseReplace, tiny.NRoutedExperts!.Value, tiny.NumExpertsPerTok));
        Assert.Equal((2, 1, 32, 16, 8, 8, 8), (tiny.NGroup, tiny.TopkGroup, tiny.QLoraRank!.Value, tiny.KvLoraRank, tiny.QkNopeHeadDim, tiny.QkRopeHeadDim, tiny.VHeadDim));
        Assert.Equal("yarn", tiny.RopeScaling!.Type);
        Assert.Equal(new[] { 128, 128 }, tiny.Fp8Quantization!.WeightBlockSize);
        Assert.All(tiny.ExpectedTensors().Where(t => t.IsFp8Scale), s => Assert.Equal(new long[] { 1, 1 }, s.Shape));
    }

    [Fact]
    public void Should_lay_out_every_expected_tensor_back_to_back_when_listing_tiny_headers()
    {
        var expected = TinyModelConfig.Load().ExpectedTensors();

        var headers = TinyModelConfig.TensorHeaders();

        Assert.Equal(expected.Select(t => (t.Name, t.Dtype)), headers.Select(h => (h.Name, h.Dtype)));
        Assert.All(headers, h => Assert.Equal(h.ElementCount * h.Dtype.ElementSize(), h.ByteLength));
        Assert.All(headers.Skip(1).Zip(headers), p => Assert.Equal(p.Second.DataOffset + p.Second.ByteLength, p.First.DataOffset));
    }
}
