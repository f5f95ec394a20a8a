using MoeQuant.Model.Config;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>The MLP of a MoE layer.</summary>
/// <param name="RouterWeight">[experts, hidden] f32.</param>
/// <param name="CorrectionBias">[experts] f32.</param>
/// <param name="ExpertGateUpT">Per expert, gate_proj and up_proj stacked and transposed: a [hidden, 2·width] view.</param>
/// <param name="ExpertDownT">Per expert, down_proj transposed: a [width, hidden] view.</param>
/// <param name="Shared">The shared experts (one MLP n_shared_experts·width wide), or null when there are none.</param>
internal sealed record MoeWeights(
    Tensor RouterWeight, Tensor CorrectionBias, IReadOnlyList<Tensor> ExpertGateUpT, IReadOnlyList<Tensor> ExpertDownT, GatedMlpWeights? Shared);

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
        var routing = TopkRouter.Route(x, weights.RouterWeight, weights.CorrectionBias, config, inputs);
        inputs.Capture?.OnRouting?.Invoke(routing);
        var (outputs, order) = RoutedExperts(weights, x, routing, inputs);

        // The fused combine adds the shared experts' output as it writes, so that output comes first there.
        if (inputs.Options.FusedCombine && MoeCombine.Fuses(outputs, x))
        {
            var shared = weights.Shared is { } fusedShared ? GatedMlp.Forward(fusedShared, x, "mlp.shared_experts", inputs) : null;
            inputs.Mark("shared expert");
            var fused = MoeCombine.Fused(outputs, order, routing.Weights, shared);
            inputs.Mark("combine");
            return fused.MoveToOuterDisposeScope();
        }

        var output = MoeCombine.Reference(outputs, order, routing.Weights);
        outputs.Dispose();
        inputs.Mark("combine");
        if (weights.Shared is { } sharedWeights)
        {
            output = output.add(GatedMlp.Forward(sharedWeights, x, "mlp.shared_experts", inputs));
            inputs.Mark("shared expert");
        }

        return output.MoveToOuterDisposeScope();
    }

    /// <returns>Every (token, slot) pair's expert output [tokens·k, hidden], sorted by expert, and the sort order
    /// [tokens·k]: row r holds slot order[r], i.e. token order[r] / k.</returns>
    private static (Tensor Outputs, Tensor Order) RoutedExperts(MoeWeights weights, Tensor x, RoutingDecision routing, LayerInputs inputs)
    {
        using var scope = NewDisposeScope();
        var experts = weights.ExpertGateUpT.Count;
        var width = weights.ExpertDownT[0].shape[0];
        var hidden = x.shape[1];
        var k = routing.Indices.shape[1];

        // 1) sort the (token, slot) pairs by expert; a stable sort keeps each expert's tokens in token order. The
        //    counts come to the host once per layer: the loops below need them to slice.
        var slots = routing.Indices.reshape(-1);
        var order = slots.sort(stable: true).Indices;
        using var countsCpu = slots.bincount(null, experts).cpu();
        var counts = countsCpu.data<long>().ToArray();
        var offsets = new long[experts + 1];
        for (var e = 0; e < experts; e++)
        {
            offsets[e + 1] = offsets[e] + counts[e];
        }

        var rows = x.index_select(0, order.div(k, rounding_mode: RoundingMode.floor));
        inputs.Mark("dispatch");

        // 2) per expert one product over all of its rows, written straight into a buffer shared by all experts;
        //    the activation runs once over every row in between. The loops issue few calls per expert (views of the
        //    weights are made at load time): with 256 experts, host-side overhead per call adds up.
        var runs = inputs.Capture?.Experts;
        var projected = empty([rows.shape[0], 2 * width], x.dtype, x.device);
        for (var e = 0; e < experts; e++)
        {
            if (runs is not null && !runs.Contains(e))
            {
                continue;
            }

            var expertRows = rows.narrow(0, offsets[e], counts[e]);
            inputs.Emit($"mlp.experts.{e}.gate_proj", expertRows, e);
            if (counts[e] > 0)
            {
                projected.narrow(0, offsets[e], counts[e]).addmm_(expertRows, weights.ExpertGateUpT[e], beta: 0, alpha: 1);
            }
        }

        rows.Dispose();
        inputs.Mark("experts gate/up");
        var activated = GatedMlp.Activate(projected, inputs.Options.FusedActivation);
        projected.Dispose();
        inputs.Mark("experts activation");
        var outputs = empty([activated.shape[0], hidden], x.dtype, x.device);
        for (var e = 0; e < experts; e++)
        {
            if (runs is not null && !runs.Contains(e))
            {
                continue;
            }

            var expertRows = activated.narrow(0, offsets[e], counts[e]);
            inputs.Emit($"mlp.experts.{e}.down_proj", expertRows, e);
            if (counts[e] > 0)
            {
                outputs.narrow(0, offsets[e], counts[e]).addmm_(expertRows, weights.ExpertDownT[e], beta: 0, alpha: 1);
            }
        }

        activated.Dispose();
        inputs.Mark("experts down");
        return (outputs.MoveToOuterDisposeScope(), order.MoveToOuterDisposeScope());
    }
}
