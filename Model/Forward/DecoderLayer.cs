using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>One DeepSeek-V3 decoder layer: pre-norm attention and pre-norm MLP (dense or MoE), each with a residual.</summary>
public static class DecoderLayer
{
    /// <summary>Runs the layer whose weights are <paramref name="weights"/>.</summary>
    /// <param name="weights">The layer, loaded by <see cref="DecoderLayerWeights.Load"/>.</param>
    /// <param name="hidden">[B, T, hidden] of <see cref="DecoderLayerWeights.DType"/>, on the weights' device.</param>
    /// <param name="positions">[B, T] or [T] int64 position ids (0..T-1 for whole sequences); any device.</param>
    /// <param name="capture">Optional callbacks for the linear units' inputs and the routing, and a phase clock.</param>
    /// <param name="options">Implementation switches; null for <see cref="ForwardOptions.Fused"/> (on an H100, one DeepSeek-V3 MoE
    /// layer over 8 × 4096 tokens: 81 ms against the reference path's 118 ms; bench/results/forward-variants-h100.jsonl).</param>
    /// <returns>[B, T, hidden], the layer output (the next layer's input).</returns>
    public static Tensor Run(DecoderLayerWeights weights, Tensor hidden, Tensor positions, LayerCapture? capture = null, ForwardOptions? options = null)
    {
        if (hidden.dim() != 3 || hidden.shape[2] != weights.Config.HiddenSize)
        {
            throw new ArgumentException($"hidden must be [B, T, {weights.Config.HiddenSize}], got [{string.Join(", ", hidden.shape)}]", nameof(hidden));
        }

        using var scope = NewDisposeScope();
        var config = weights.Config;
        var inputs = new LayerInputs(weights, capture, options ?? ForwardOptions.Fused);
        var fusedNorm = inputs.Options.FusedNorm;
        var (cos, sin) = weights.Rope.Angles(positions.to(weights.Device), weights.DType);
        inputs.Mark("rope angles");

        var normed = RmsNorm.Apply(hidden, weights.InputNorm, config.RmsNormEps, fusedNorm);
        inputs.Mark("input norm");
        var attention = MlaAttention.Forward(weights.Attention, config, weights.Rope, normed, cos, sin, inputs);
        var attended = hidden.add(attention);
        inputs.Mark("attention residual");

        var mlpInput = RmsNorm.Apply(attended, weights.PostAttentionNorm, config.RmsNormEps, fusedNorm).reshape(-1, config.HiddenSize);
        inputs.Mark("post norm");
        Tensor mlp;
        if (weights.Moe is { } moe)
        {
            mlp = MoeBlock.Forward(moe, config, mlpInput, inputs);
        }
        else
        {
            mlp = GatedMlp.Forward(weights.DenseMlp!, mlpInput, "mlp", inputs);
            inputs.Mark("dense mlp");
        }

        var output = attended.add(mlp.view(hidden.shape));
        inputs.Mark("mlp residual");
        return output.MoveToOuterDisposeScope();
    }
}
