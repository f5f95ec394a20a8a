using MoeQuant.Model.Forward;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Forward;

/// <summary>The quantizer's view of a layer: every linear unit's input, each routed expert's own tokens, weight replacement.</summary>
public sealed class LayerCaptureTests
{
    private const int MoeLayer = 2;

    [Theory]
    [InlineData("mla-lora")]
    [InlineData("mla-direct")]
    public void Should_hand_each_routed_expert_exactly_the_tokens_routed_to_it(string model)
    {
        var fixture = HfFixture.Get(model);
        var captured = CaptureLayer(fixture, MoeLayer, fromReferenceInput: true);
        var routed = fixture.ReferenceExperts(MoeLayer).Select(set => set.Split(',').Select(int.Parse).ToArray()).ToArray();
        var routerInput = fixture.Reference($"router_input_fp32.{MoeLayer}");

        for (var expert = 0; expert < fixture.Config.NRoutedExperts; expert++)
        {
            var tokens = Enumerable.Range(0, routed.Length).Where(t => routed[t].Contains(expert)).ToArray();
            var gateUp = captured.Single(c => c.InputGroup == $"mlp.experts.{expert}.gate_proj");
            var down = captured.Single(c => c.InputGroup == $"mlp.experts.{expert}.down_proj");
            Assert.Equal(tokens.Length, gateUp.Tokens);
            Assert.Equal(tokens.Length, down.Tokens);
            Assert.Equal(expert, gateUp.Expert);
            Assert.Equal([$"mlp.experts.{expert}.gate_proj", $"mlp.experts.{expert}.up_proj"], gateUp.Units);

            // The rows are the router's input rows of those tokens (the MLP input), in token order.
            if (tokens.Length == 0)
            {
                continue;
            }

            var expected = routerInput.index_select(0, tensor(tokens.Select(t => (long)t).ToArray()));
            Assert.True(HfFixture.MaxAbsDiff(gateUp.Activations, expected) < 1e-4);
        }
    }

    [Fact]
    public void Should_hand_every_linear_unit_its_input_once_with_shared_inputs_grouped()
    {
        var fixture = HfFixture.Get("mla-lora");
        var config = fixture.Config;
        var captured = CaptureLayer(fixture, MoeLayer, fromReferenceInput: false);
        var tokens = fixture.Reference("input_ids").numel();

        // Every unit of the layer appears in exactly one capture, with its input width.
        var units = LinearUnit.ForLayer(config, MoeLayer);
        Assert.Equal(units.Select(u => u.Name).Order(), captured.SelectMany(c => c.Units).Order());
        foreach (var unit in units)
        {
            var input = captured.Single(c => c.Units.Contains(unit.Name));
            Assert.Equal(unit.InputGroup, input.InputGroup);
            Assert.Equal(unit.InFeatures, input.Activations.shape[1]);
        }

        Assert.Equal(["self_attn.q_a_proj", "self_attn.kv_a_proj_with_mqa"], captured.Single(c => c.InputGroup == "self_attn.q_a_proj").Units);
        Assert.Equal(["mlp.shared_experts.gate_proj", "mlp.shared_experts.up_proj"], captured.Single(c => c.InputGroup == "mlp.shared_experts.gate_proj").Units);
        Assert.All(captured.Where(c => c.Expert is null), c => Assert.Equal(tokens, c.Tokens));
        Assert.Equal(tokens * config.NumExpertsPerTok, captured.Where(c => c.Expert is not null && c.InputGroup.EndsWith("gate_proj", StringComparison.Ordinal)).Sum(c => c.Tokens));
    }

    [Fact]
    public void Should_run_with_replaced_weights_and_return_to_the_original_output_when_they_are_restored()
    {
        var fixture = HfFixture.Get("mla-lora");
        var ids = fixture.Reference("input_ids");
        var hidden = fixture.Reference("hidden_fp32")[MoeLayer];
        var positions = arange(ids.shape[1]);
        using var weights = DecoderLayerWeights.Load(fixture.Config, MoeLayer, fixture, CPU, ScalarType.Float32);
        var original = DecoderLayer.Run(weights, hidden, positions);

        foreach (var unit in new[] { "self_attn.kv_a_proj_with_mqa", "mlp.experts.3.up_proj", "mlp.shared_experts.down_proj" })
        {
            var saved = weights.Weight(unit).clone();
            weights.ReplaceWeight(unit, saved.mul(1.5));
            Assert.True(HfFixture.MaxAbsDiff(weights.Weight(unit), saved.mul(1.5)) == 0);
            Assert.True(HfFixture.MaxAbsDiff(DecoderLayer.Run(weights, hidden, positions), original) > 1e-4, unit);
            weights.ReplaceWeight(unit, saved);
        }

        Assert.Equal(0.0, HfFixture.MaxAbsDiff(DecoderLayer.Run(weights, hidden, positions), original));
        Assert.Throws<ArgumentException>(() => weights.ReplaceWeight("self_attn.o_proj", zeros(3, 3)));
        Assert.Throws<KeyNotFoundException>(() => weights.Weight("mlp.experts.99.gate_proj"));
    }

    // Runs one layer of the fp32 fixture with capture on and returns copies of what was captured. fromReferenceInput
    // feeds transformers' input of that layer, so that routing equals the fixture's.
    private static List<CapturedInput> CaptureLayer(HfFixture fixture, int layer, bool fromReferenceInput)
    {
        var ids = fixture.Reference("input_ids");
        var hidden = fromReferenceInput ? fixture.Reference("hidden_fp32")[layer] : randn(ids.shape[0], ids.shape[1], fixture.Config.HiddenSize);
        var captured = new List<CapturedInput>();
        using var weights = DecoderLayerWeights.Load(fixture.Config, layer, fixture, CPU, ScalarType.Float32);
        DecoderLayer.Run(weights, hidden, arange(ids.shape[1]), new LayerCapture(OnLinearInput: c =>
            captured.Add(c with { Activations = c.Activations.clone().DetachFromDisposeScope() })));
        return captured;
    }
}
