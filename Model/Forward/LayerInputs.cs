using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>
/// What the parts of one layer run share: the implementation switches, the capture callback that receives linear-unit
/// inputs, and the phase clock, if there are any.
/// </summary>
internal sealed class LayerInputs(DecoderLayerWeights weights, LayerCapture? capture, ForwardOptions options)
{
    public LayerCapture? Capture => capture;

    public ForwardOptions Options => options;

    /// <param name="group">An input group of the layer (<see cref="LinearUnit.InputGroup"/>).</param>
    /// <param name="activations">[tokens, in] read by every unit of the group.</param>
    /// <param name="expert">The routed expert of the group, or null.</param>
    public void Emit(string group, Tensor activations, int? expert = null)
    {
        if (capture?.OnLinearInput is { } callback)
        {
            callback(new CapturedInput(group, weights.InputGroups[group], activations, expert));
        }
    }

    /// <summary>Ends phase <paramref name="phase"/> (see <see cref="ForwardPhaseClock"/>); free without a clock.</summary>
    public void Mark(string phase) => capture?.Phases?.Mark(phase);
}
