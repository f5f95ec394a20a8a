using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>Hands linear-unit inputs of one layer run to the capture callback, if there is one.</summary>
internal sealed class LayerInputs(DecoderLayerWeights weights, LayerCapture? capture)
{
    public LayerCapture? Capture => capture;

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
}
