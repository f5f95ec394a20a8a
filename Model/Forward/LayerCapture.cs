using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>
/// The input activations of one or more linear units of a decoder layer, as GPTQ needs them for the Hessian XᵀX.
/// Units listed together read the same activations (q_a_proj with kv_a_proj_with_mqa, gate_proj with up_proj), so
/// one Hessian serves them all.
/// </summary>
/// <param name="InputGroup">The <see cref="LinearUnit.InputGroup"/> of every unit in <paramref name="Units"/>.</param>
/// <param name="Units">Unit names relative to the layer, e.g. <c>mlp.experts.5.gate_proj</c>.</param>
/// <param name="Activations">[tokens, in_features] of the layer's compute dtype; for a routed expert only the tokens
/// routed to it, in token order (possibly none). Valid only during the callback; to keep it, copy it out of the run's
/// dispose scope (<c>Activations.clone().DetachFromDisposeScope()</c>), or accumulate from it right there (XᵀX).</param>
/// <param name="Expert">The routed expert these activations belong to, or null for every other unit.</param>
public sealed record CapturedInput(string InputGroup, IReadOnlyList<string> Units, Tensor Activations, int? Expert)
{
    /// <summary>Number of token rows: the sample count the Hessian accumulates.</summary>
    public long Tokens => Activations.shape[0];
}

/// <summary>What a <see cref="DecoderLayer.Run"/> reports besides its output.</summary>
/// <param name="OnLinearInput">Called once per input group (and per routed expert, also those that got no tokens)
/// with the activations its units read.</param>
/// <param name="OnRouting">Called once per MoE layer run with the routing of every token ([B·T, k]); its tensors, like
/// the activations, are valid only during the callback.</param>
/// <param name="RouterOptions">Router switches; null for DeepSeek-V3's full rule. Tests only.</param>
/// <param name="Experts">When set, only these routed experts run (and are reported); the others are skipped and the
/// layer's output is then meaningless. A calibration wave that needs the inputs of a few experts sets it: routing,
/// attention and the inputs of the experts it runs are unchanged.</param>
/// <param name="Phases">When set, times every phase of the run (benchmarks; it synchronises the device at each).</param>
public sealed record LayerCapture(
    Action<CapturedInput>? OnLinearInput = null,
    Action<RoutingDecision>? OnRouting = null,
    RouterOptions? RouterOptions = null,
    IReadOnlySet<int>? Experts = null,
    ForwardPhaseClock? Phases = null);
