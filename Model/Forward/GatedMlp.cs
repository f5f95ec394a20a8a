using MoeQuant.Kernels.Fused;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>A SiLU-gated MLP's weights: gate_proj and up_proj stacked as [2·width, hidden], down_proj [hidden, width].</summary>
internal sealed record GatedMlpWeights(Tensor GateUp, Tensor Down);

/// <summary><c>down(silu(gate(x)) · up(x))</c>: the dense MLP, the shared experts, and each routed expert.</summary>
internal static class GatedMlp
{
    /// <param name="x">[tokens, hidden] of the compute dtype.</param>
    /// <param name="gateUp">gate_proj then up_proj rows, [2·width, hidden].</param>
    /// <param name="down">down_proj [hidden, width].</param>
    /// <param name="module">The unit prefix (<c>mlp</c>, <c>mlp.shared_experts</c>, <c>mlp.experts.5</c>) for capture.</param>
    /// <param name="inputs">Receives the inputs of the two input groups.</param>
    /// <param name="expert">The routed expert, or null.</param>
    /// <returns>[tokens, hidden].</returns>
    public static Tensor Forward(Tensor x, Tensor gateUp, Tensor down, string module, LayerInputs inputs, int? expert = null)
    {
        using var scope = NewDisposeScope();
        inputs.Emit(module + ".gate_proj", x, expert);
        var activated = Activate(nn.functional.linear(x, gateUp), inputs.Options.FusedActivation);
        inputs.Emit(module + ".down_proj", activated, expert);
        return nn.functional.linear(activated, down).MoveToOuterDisposeScope();
    }

    public static Tensor Forward(GatedMlpWeights weights, Tensor x, string module, LayerInputs inputs) =>
        Forward(x, weights.GateUp, weights.Down, module, inputs);

    /// <summary>silu(gate)·up of a fused product: [rows, width].</summary>
    /// <param name="gateUp">[rows, 2·width], gate columns first.</param>
    /// <param name="fused">Use <see cref="FusedSiluMul"/> where it applies (bf16 on CUDA): the same roundings in one pass.</param>
    public static Tensor Activate(Tensor gateUp, bool fused)
    {
        if (fused && FusedSiluMul.Applies(gateUp))
        {
            return FusedSiluMul.Apply(gateUp);
        }

        var width = gateUp.shape[1] / 2;
        return nn.functional.silu(gateUp.narrow(1, 0, width)).mul_(gateUp.narrow(1, width, width));
    }
}
