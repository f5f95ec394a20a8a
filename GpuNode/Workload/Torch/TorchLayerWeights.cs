using MoeQuant.Model.Forward;

namespace MoeQuant.GpuNode.Workload.Torch;

/// <summary>A decoder layer's weights on one device.</summary>
internal sealed class TorchLayerWeights(DecoderLayerWeights weights) : ILayerWeights
{
    public DecoderLayerWeights Weights { get; } = weights;

    public int Layer => Weights.Layer;

    public void Dispose() => Weights.Dispose();
}
