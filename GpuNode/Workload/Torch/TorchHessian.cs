using static TorchSharp.torch;

namespace MoeQuant.GpuNode.Workload.Torch;

/// <summary>Σ xxᵀ of one unit of <paramref name="layer"/> over some tokens: [columns, columns] float32 on a device.</summary>
internal sealed class TorchHessian(Tensor sum, int layer) : IHessian
{
    public Tensor Sum { get; } = sum;

    public int Layer { get; } = layer;

    public void Dispose() => Sum.Dispose();
}
