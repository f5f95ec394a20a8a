using MoeQuant.Model.Forward;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Forward;

/// <summary>Routing decisions against transformers' for every token, and the negative controls of issue 4.</summary>
public sealed class RoutingTests(ITestOutputHelper output)
{
    public static TheoryData<string> Models => ["mla-lora", "mla-direct", "mla-lora-fp8"];

    [Theory]
    [MemberData(nameof(Models))]
    public void Should_choose_the_experts_transformers_chose_for_every_token(string model)
    {
        var fixture = HfFixture.Get(model);
        foreach (var layer in fixture.MoeLayers)
        {
            var mismatches = Mismatches(fixture, layer, RouterOptions.Default);
            Assert.True(mismatches == 0, $"layer {layer}: {mismatches} tokens routed differently");
        }
    }

    [Theory]
    [InlineData("reference")]
    [InlineData("fused")]
    public void Should_route_every_token_as_transformers_inside_the_fp32_forward(string variant)
    {
        var options = ForwardOptions.Variants.Single(v => v.Name == variant).Options;
        var fixture = HfFixture.Get("mla-lora");
        var chosen = new Dictionary<int, string[]>();
        var ids = fixture.Reference("input_ids");
        using var table = fixture.Read("model.embed_tokens.weight", ScalarType.Float32, CPU);
        var hidden = CausalLmForward.Embed(table, ids);
        for (var layer = 0; layer < fixture.Config.NumHiddenLayers; layer++)
        {
            using var weights = DecoderLayerWeights.Load(fixture.Config, layer, fixture, CPU, ScalarType.Float32);
            var current = layer;
            hidden = DecoderLayer.Run(weights, hidden, arange(ids.shape[1]), new LayerCapture(OnRouting: r => chosen[current] = HfFixture.ExpertSets(r.Indices)), options);
        }

        Assert.Equal(fixture.MoeLayers, chosen.Keys.Order());
        foreach (var (layer, experts) in chosen)
        {
            Assert.Equal(fixture.ReferenceExperts(layer), experts);
        }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Should_notice_a_router_that_drops_the_correction_bias(string model)
    {
        var fixture = HfFixture.Get(model);
        var mismatches = fixture.MoeLayers.Sum(layer => Mismatches(fixture, layer, new RouterOptions(UseCorrectionBias: false)));
        output.WriteLine($"{model}: {mismatches} tokens routed differently without e_score_correction_bias");
        Assert.True(mismatches > 0);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Should_notice_a_router_that_drops_the_group_limit(string model)
    {
        var fixture = HfFixture.Get(model);
        var mismatches = fixture.MoeLayers.Sum(layer => Mismatches(fixture, layer, new RouterOptions(UseGroupLimit: false)));
        output.WriteLine($"{model}: {mismatches} tokens routed differently without the group limit");
        Assert.True(mismatches > 0);
    }

    [Fact]
    public void Should_weight_the_chosen_experts_by_their_unbiased_normalised_scores()
    {
        var fixture = HfFixture.Get("mla-lora");
        var layer = fixture.MoeLayers.First();
        var (weight, bias) = RouterTensors(fixture, layer);
        var input = fixture.Reference($"router_input_fp32.{layer}");
        var routing = TopkRouter.Route(input, weight, bias, fixture.Config);

        // Σ weights = routed_scaling_factor after normalisation, and each weight ∝ sigmoid(logit) without the bias.
        var sums = routing.Weights.sum(-1);
        Assert.True((sums - fixture.Config.RoutedScalingFactor).abs().max().item<float>() < 1e-5);
        var scores = input.matmul(weight.t()).sigmoid().gather(1, routing.Indices);
        var expected = scores.div(scores.sum(-1, keepdim: true)).mul(fixture.Config.RoutedScalingFactor);
        Assert.True(HfFixture.MaxAbsDiff(routing.Weights, expected) < 1e-6);
    }

    /// <summary>Tokens whose experts differ from transformers' when layer <paramref name="layer"/> routes transformers'
    /// own router inputs (so the count isolates the router from any drift in the layers before it).</summary>
    private static int Mismatches(HfFixture fixture, int layer, RouterOptions options)
    {
        var (weight, bias) = RouterTensors(fixture, layer);
        var routing = TopkRouter.Route(fixture.Reference($"router_input_fp32.{layer}"), weight, bias, fixture.Config, options);
        return HfFixture.ExpertSets(routing.Indices).Zip(fixture.ReferenceExperts(layer)).Count(p => p.First != p.Second);
    }

    // The router weight goes through the dtype transformers ran in (bf16 for the FP8 model), as DecoderLayerWeights does.
    private static (Tensor Weight, Tensor Bias) RouterTensors(HfFixture fixture, int layer)
    {
        var dtype = fixture.Config.Fp8Quantization is null ? ScalarType.Float32 : ScalarType.BFloat16;
        var weight = fixture.Read($"model.layers.{layer}.mlp.gate.weight", dtype, CPU).to_type(ScalarType.Float32);
        var bias = fixture.Read($"model.layers.{layer}.mlp.gate.e_score_correction_bias", ScalarType.Float32, CPU);
        return (weight, bias);
    }
}
