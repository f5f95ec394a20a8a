using MoeQuant.Messages;
using MoeQuant.Model.Forward;

namespace MoeQuant.GpuNode.Workload.Torch;

/// <summary>A decoder layer's weights on one device.</summary>
/// <param name="device">The pipeline's device name ("cuda:0/1"), which may share one torch device with others.</param>
/// <param name="weights">The weights.</param>
internal sealed class TorchLayerWeights(string device, DecoderLayerWeights weights) : ILayerWeights
{
    public string Device { get; } = device;

    public DecoderLayerWeights Weights { get; } = weights;

    public int Layer => Weights.Layer;

    /// <summary>Units whose quantized weights are already copied in: the quantized forward of every shard of the device
    /// uses them, and copying a MoE layer's 22 GB once per shard would cost seconds. Used from the device's thread only.</summary>
    public HashSet<UnitId> Replaced { get; } = [];

    public void Dispose() => Weights.Dispose();
}
