using System.Text.Json;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Inspection;
using MoeQuant.Model.TinyModel;
using static MoeQuant.Model.Tests.Inspection.TinyCheckpointHeaders;

namespace MoeQuant.Model.Tests.Inspection;

public class CheckpointSummaryTests
{
    [Fact]
    public void Should_count_parameters_and_bytes_when_summarising_the_tiny_FP8_checkpoint()
    {
        var s = CheckpointSummary.Create(TinyModelConfig.Load(), Create());

        Assert.Equal(("DeepseekV3ForCausalLM", "deepseek_v3", 64, 1024), (s.Architecture, s.ModelType, s.HiddenSize, s.VocabSize));
        Assert.Equal((1, 3, 1), (s.DenseLayers, s.MoeLayers, s.MtpLayers));
        Assert.Equal((8, 1, 2), (s.RoutedExperts!.Value, s.SharedExperts, s.ExpertsPerToken));
        Assert.True(s.IsFp8);
        Assert.Equal((Fp8Weights, Fp8Weights), (s.Fp8Weights, s.Fp8Scales));
        Assert.Equal(new Totals(309, Parameters, Bytes), s.Total);
        Assert.Equal(562_832, Parameters);
        Assert.Empty(s.Check.Missing);
        Assert.Empty(s.Check.Unexpected);
        Assert.Empty(s.Check.Mismatched);
    }

    [Fact]
    public void Should_count_by_kind_with_scales_as_bytes_only_when_summarising_the_tiny_checkpoint()
    {
        var s = CheckpointSummary.Create(TinyModelConfig.Load(), Create());

        var byKind = s.ByKind.ToDictionary(k => k.Kind, k => k.Totals);
        Assert.Equal(new Totals(5 * 10, Attention, Attention + (5 * 5 * 4)), byKind[TensorKind.Attention]);
        Assert.Equal(new Totals(6, MlpDense, MlpDense + (3 * 4)), byKind[TensorKind.DenseMlp]);
        Assert.Equal(new Totals(4 * 8 * 6, RoutedExperts, RoutedExperts + (4 * 8 * 3 * 4)), byKind[TensorKind.RoutedExperts]);
        Assert.Equal(new Totals(4 * 6, SharedExperts, SharedExperts + (4 * 3 * 4)), byKind[TensorKind.SharedExperts]);
        Assert.Equal(new Totals(8, Router, (4 * 8 * 64 * 2) + (4 * 8 * 4)), byKind[TensorKind.Router]);
        Assert.Equal(new Totals((5 * 4) + 1 + 3, Norms, 2 * Norms), byKind[TensorKind.Norm]);
        Assert.Equal(new Totals(4, Embedding, 2 * Embedding), byKind[TensorKind.Embedding]);
        Assert.Equal(new Totals(1, Other, 2 * Other), byKind[TensorKind.Other]);
        Assert.Equal(Parameters, s.ByKind.Sum(k => k.Totals.Parameters));
    }

    [Fact]
    public void Should_count_by_dtype_when_summarising_the_tiny_checkpoint()
    {
        var s = CheckpointSummary.Create(TinyModelConfig.Load(), Create());

        var byDtype = s.ByDtype.ToDictionary(d => d.Dtype, d => d.Totals);
        Assert.Equal(["F32", "BF16", "F8_E4M3"], byDtype.Keys);
        Assert.Equal(new Totals(Fp8Weights, Fp8Bytes, Fp8Bytes), byDtype["F8_E4M3"]);
        Assert.Equal(new Totals(Fp8Weights + 4, 4 * 8, F32Bytes), byDtype["F32"]);
        Assert.Equal(Bf16Bytes, byDtype["BF16"].Bytes);
    }

    [Fact]
    public void Should_place_tensors_in_layers_when_summarising_the_tiny_checkpoint()
    {
        var s = CheckpointSummary.Create(TinyModelConfig.Load(), Create());

        Assert.Equal(
            ["embed_tokens", "layer 0", "layer 1", "layer 2", "layer 3", "layer 4", "norm", "lm_head"],
            s.ByLayer.Select(l => l.Layer));
        Assert.Equal(
            [LayerRole.Embedding, LayerRole.Dense, LayerRole.Moe, LayerRole.Moe, LayerRole.Moe, LayerRole.Mtp, LayerRole.FinalNorm, LayerRole.LmHead],
            s.ByLayer.Select(l => l.Role));
        Assert.Equal([null, null, 8, 8, 8, 8, null, null], s.ByLayer.Select(l => l.ExpertsFound));
        Assert.Equal([null, 0, 1, 2, 3, 4, null, null], s.ByLayer.Select(l => l.Index));
        var moeLayer = AttentionPerLayer + NormsPerLayer + RouterPerLayer + (9 * OneExpert);
        Assert.Equal(AttentionPerLayer + NormsPerLayer + MlpDense, s.ByLayer[1].Totals.Parameters);
        Assert.Equal(moeLayer, s.ByLayer[2].Totals.Parameters);
        Assert.Equal(moeLayer + MtpExtras, s.ByLayer[5].Totals.Parameters);
    }

    [Fact]
    public void Should_report_missing_experts_when_an_expert_is_absent()
    {
        var headers = Create().Where(h => !h.Name.StartsWith("model.layers.2.mlp.experts.5.", StringComparison.Ordinal));

        var s = CheckpointSummary.Create(TinyModelConfig.Load(), headers);

        Assert.Equal(7, s.ByLayer.Single(l => l.Index == 2).ExpertsFound);
        Assert.Equal(6, s.Check.Missing.Length);
        Assert.Contains("model.layers.2.mlp.experts.5.down_proj.weight_scale_inv", s.Check.Missing);
    }

    [Fact]
    public void Should_report_unexpected_and_mismatched_tensors_when_they_differ_from_the_config()
    {
        var headers = Create()
            .Select(h => h.Name == "model.layers.1.self_attn.o_proj.weight" ? h with { Dtype = SafetensorsDtype.BF16, ByteLength = 2 * h.ByteLength } : h)
            .Append(new TensorHeader("model.layers.1.mlp.experts.8.up_proj.weight", SafetensorsDtype.BF16, [32, 64], "x", 0, 4096))
            .Append(new TensorHeader("model.rotary_emb.inv_freq", SafetensorsDtype.F32, [4], "x", 0, 16));

        var s = CheckpointSummary.Create(TinyModelConfig.Load(), headers);

        Assert.Equal(new[] { "model.layers.1.mlp.experts.8.up_proj.weight", "model.rotary_emb.inv_freq" }, s.Check.Unexpected);
        Assert.Equal(new[] { "model.layers.1.self_attn.o_proj.weight: found BF16 [64, 32], expected F8_E4M3 [64, 32]" }, s.Check.Mismatched);
        Assert.Equal(9, s.ByLayer.Single(l => l.Index == 1).ExpertsFound);
        var other = s.ByLayer[^1];
        Assert.Equal(("other", LayerRole.Other, new Totals(1, 4, 16)), (other.Layer, other.Role, other.Totals));
        Assert.Equal(Fp8Weights - 1, s.Fp8Weights);
    }

    [Fact]
    public void Should_say_not_FP8_when_no_tensor_is_F8_E4M3()
    {
        var headers = Create()
            .Where(h => !h.Name.EndsWith("_scale_inv", StringComparison.Ordinal))
            .Select(h => h.Dtype == SafetensorsDtype.F8_E4M3 ? h with { Dtype = SafetensorsDtype.BF16, ByteLength = 2 * h.ByteLength } : h);
        var config = TinyModelConfig.Load() with { Fp8Quantization = null };

        var s = CheckpointSummary.Create(config, headers);

        Assert.False(s.IsFp8);
        Assert.Equal((0, 0), (s.Fp8Weights, s.Fp8Scales));
        Assert.Empty(s.Fp8BlockSize);
        Assert.Equal(Parameters, s.Total.Parameters);
        Assert.Empty(s.Check.Missing);
        Assert.Empty(s.Check.Mismatched);
    }

    [Fact]
    public void Should_round_trip_through_JSON_with_snake_case_names_when_serialised()
    {
        var s = CheckpointSummary.Create(TinyModelConfig.Load(), Create());

        var json = s.ToJson();
        var back = JsonSerializer.Deserialize<CheckpointSummary>(json, CheckpointSummary.JsonOptions)!;

        Assert.Equal(json, back.ToJson());
        using var document = JsonDocument.Parse(json);
        Assert.Equal(Parameters, document.RootElement.GetProperty("total").GetProperty("parameters").GetInt64());
        Assert.Equal("routed_experts", document.RootElement.GetProperty("by_kind")[2].GetProperty("kind").GetString());
        Assert.Equal("F8_E4M3", document.RootElement.GetProperty("by_dtype")[2].GetProperty("dtype").GetString());
    }
}
