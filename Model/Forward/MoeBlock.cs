using MoeQuant.Model.Config;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>The MLP of a MoE layer.</summary>
/// <param name="RouterWeight">[experts, hidden] f32.</param>
/// <param name="CorrectionBias">[experts] f32.</param>
/// <param name="ExpertGateUp">[experts, 2·width, hidden]: each expert's gate_proj rows, then its up_proj rows.</param>
/// <param name="ExpertDown">[experts, hidden, width].</param>
/// <param name="Shared">The shared experts (one MLP n_shared_experts·width wide), or null when there are none.</param>
internal sealed record MoeWeights(Tensor RouterWeight, Tensor CorrectionBias, Tensor ExpertGateUp, Tensor ExpertDown, GatedMlpWeights? Shared);

/// <summary>
/// DeepSeek-V3's MoE: routed experts weighted by the router, plus the shared experts. Tokens are sorted by expert and
/// each expert runs once over all of its tokens (two matrix products), never token by token.
/// </summary>
internal static class MoeBlock
{
    /// <param name="weights">The layer's MoE weights.</param>
    /// <param name="config">The model config (routing parameters).</param>
    /// <param name="x">[tokens, hidden] of the compute dtype (the post-attention-normed hidden states).</param>
    /// <param name="inputs">Receives routing and the experts' inputs.</param>
    /// <returns>[tokens, hidden] of the compute dtype.</returns>
    public static Tensor Forward(MoeWeights weights, DeepseekV3Config config, Tensor x, LayerInputs inputs)
    {
        using var scope = NewDisposeScope();
        var routing = TopkRouter.Route(x, weights.RouterWeight, weights.CorrectionBias, config, inputs.Capture?.RouterOptions);
        inputs.Capture?.OnRouting?.Invoke(routing);
        var output = RoutedExperts(weights, x, routing, inputs);
        if (weights.Shared is { } shared)
        {
            output = output.add(GatedMlp.Forward(shared, x, "mlp.shared_experts", inputs));
        }

        return output.MoveToOuterDisposeScope();
    }

    private static Tensor RoutedExperts(MoeWeights weights, Tensor x, RoutingDecision routing, LayerInputs inputs)
    {
        using var scope = NewDisposeScope();
        var experts = weights.ExpertGateUp.shape[0];
        var k = routing.Indices.shape[1];

        // 1) sort the (token, slot) pairs by expert; a stable sort keeps each expert's tokens in token order.
        var slots = routing.Indices.reshape(-1);
        var order = slots.sort(stable: true).Indices;
        var tokenOfSlot = order.div(k, rounding_mode: RoundingMode.floor);
        var slotWeights = routing.Weights.reshape(-1).index_select(0, order);
        using var countsCpu = slots.bincount(null, experts).cpu();
        var counts = countsCpu.data<long>().ToArray();

        // 2) one pass per expert over all of its tokens. Outputs are weighted in f32 and summed in f32, then rounded
        //    once, as transformers' grouped experts do.
        var sum = zeros([x.shape[0], x.shape[1]], ScalarType.Float32, x.device);
        var offset = 0L;
        for (var e = 0; e < experts; e++)
        {
            using var expertScope = NewDisposeScope();
            var tokens = tokenOfSlot.narrow(0, offset, counts[e]);
            var rows = x.index_select(0, tokens);
            var output = GatedMlp.Forward(rows, weights.ExpertGateUp[e], weights.ExpertDown[e], $"mlp.experts.{e}", inputs, e);
            var weighted = output.to_type(ScalarType.Float32).mul_(slotWeights.narrow(0, offset, counts[e]).unsqueeze(1));
            sum.index_add_(0, tokens, weighted, 1);
            offset += counts[e];
        }

        return sum.to_type(x.dtype).MoveToOuterDisposeScope();
    }
}
