using static TorchSharp.torch;

namespace MoeQuant.GpuNode.Workload.Torch;

/// <summary>One shard's hidden states: one [1, T, hidden] tensor per sample, samples kept apart so that no padding
/// (and no attention mask) enters the maths.</summary>
internal sealed class TorchActivations(IReadOnlyList<Tensor> samples) : IActivations
{
    public IReadOnlyList<Tensor> Samples { get; } = samples;

    public void Dispose()
    {
        foreach (var sample in Samples)
        {
            sample.Dispose();
        }
    }
}
