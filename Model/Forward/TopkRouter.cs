using MoeQuant.Kernels.Cuda;
using MoeQuant.Model.Config;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>The experts chosen for each token and their combine weights.</summary>
/// <param name="Indices">[tokens, k] int64, expert ids in top-k order (not sorted).</param>
/// <param name="Weights">[tokens, k] f32, the unbiased sigmoid scores of those experts, normalised if
/// norm_topk_prob and multiplied by routed_scaling_factor.</param>
public sealed record RoutingDecision(Tensor Indices, Tensor Weights);

/// <summary>
/// Which parts of DeepSeek-V3's selection rule run. Production code uses <see cref="Default"/>; the other switches
/// exist so that tests can prove a routing check notices a router that drops one of them.
/// </summary>
/// <param name="UseCorrectionBias">Add e_score_correction_bias to the scores used for selection.</param>
/// <param name="UseGroupLimit">Keep only the topk_group best of the n_group expert groups.</param>
public sealed record RouterOptions(bool UseCorrectionBias = true, bool UseGroupLimit = true)
{
    /// <summary>The full DeepSeek-V3 rule.</summary>
    public static RouterOptions Default { get; } = new();
}

/// <summary>
/// DeepSeek-V3's sigmoid router with bias-corrected, group-limited top-k (<c>noaux_tc</c>; FORMATS.md §2.1), all in f32
/// as transformers' <c>DeepseekV3TopkRouter</c>.
/// </summary>
public static class TopkRouter
{
    /// <summary>Routes every token.</summary>
    /// <param name="input">[tokens, hidden], any float dtype; computed in f32.</param>
    /// <param name="weight">Router weight [n_routed_experts, hidden], f32.</param>
    /// <param name="correctionBias">e_score_correction_bias [n_routed_experts], f32.</param>
    /// <param name="config">Supplies k, n_group, topk_group, norm_topk_prob and routed_scaling_factor.</param>
    /// <param name="options">Null for <see cref="RouterOptions.Default"/>.</param>
    public static RoutingDecision Route(
        Tensor input, Tensor weight, Tensor correctionBias, DeepseekV3Config config, RouterOptions? options = null)
    {
        using var scope = NewDisposeScope();
        var routing = Select(Scores(input, weight, tensorCores: false), correctionBias, config, options ?? RouterOptions.Default, null);
        return new RoutingDecision(routing.Indices.MoveToOuterDisposeScope(), routing.Weights.MoveToOuterDisposeScope());
    }

    /// <summary>Routes every token of a layer run: its switches pick the product, its clock times the steps.</summary>
    internal static RoutingDecision Route(Tensor input, Tensor weight, Tensor correctionBias, DeepseekV3Config config, LayerInputs run)
    {
        using var scope = NewDisposeScope();
        var scores = Scores(input, weight, run.Options.TensorCoreRouter);
        run.Mark("router scores");
        var routing = Select(scores, correctionBias, config, run.Capture?.RouterOptions ?? RouterOptions.Default, run);
        return new RoutingDecision(routing.Indices.MoveToOuterDisposeScope(), routing.Weights.MoveToOuterDisposeScope());
    }

    // 1) scores in f32. The tensor-core product applies when the activations are bf16: the router weight was rounded
    //    through the compute dtype at load, so both operands are bf16 values and every product is exact in f32.
    private static Tensor Scores(Tensor input, Tensor weight, bool tensorCores)
    {
        if (tensorCores && input.dtype == ScalarType.BFloat16)
        {
            using var weightBf16 = weight.to_type(ScalarType.BFloat16);
            if (CublasLinear.Applies(input, weightBf16))
            {
                return CublasLinear.ToFloat32(input, weightBf16).sigmoid_();
            }
        }

        return nn.functional.linear(input.to_type(ScalarType.Float32), weight).sigmoid();
    }

    private static RoutingDecision Select(Tensor scores, Tensor correctionBias, DeepseekV3Config config, RouterOptions options, LayerInputs? run)
    {
        var experts = scores.shape[1];

        // The bias only steers the choice, the weights come from the unbiased scores.
        var choice = options.UseCorrectionBias ? scores.add(correctionBias) : scores;

        // 2) group limit: a group's score is the sum of its two best experts; experts outside the topk_group best groups
        //    are excluded (-inf, as transformers 5 masks; a 0 fill could pick them over negative biased scores).
        if (options.UseGroupLimit && config.TopkGroup < config.NGroup)
        {
            var grouped = choice.view(-1, config.NGroup, experts / config.NGroup);
            var groupScores = grouped.topk(2, dim: -1).values.sum(-1);
            var keptGroups = groupScores.topk(config.TopkGroup, dim: -1, sorted: false).indexes;
            var groupMask = zeros_like(groupScores, dtype: ScalarType.Bool).scatter_(1, keptGroups, ones_like(keptGroups, dtype: ScalarType.Bool));
            var expertMask = groupMask.unsqueeze(-1).expand(-1, config.NGroup, experts / config.NGroup).reshape(-1, experts);
            choice = choice.masked_fill(expertMask.logical_not(), double.NegativeInfinity);
        }

        run?.Mark("router group top-k");

        // 3) top-k by the (biased) choice scores, weights from the unbiased ones.
        var indices = choice.topk(config.NumExpertsPerTok, dim: -1, sorted: false).indexes;
        var weights = scores.gather(1, indices);
        if (config.NormTopkProb)
        {
            weights = weights.div(weights.sum(-1, keepdim: true).add(1e-20));
        }

        weights = weights.mul(config.RoutedScalingFactor);
        run?.Mark("router top-k");
        return new RoutingDecision(indices, weights);
    }
}
