using static TorchSharp.torch;

namespace MoeQuant.GpuNode.Workload.Torch;

/// <summary>Σ xxᵀ of one unit over some tokens: [columns, columns] float32 on a device.</summary>
internal sealed class TorchHessian(Tensor sum) : IHessian
{
    public Tensor Sum { get; } = sum;

    public void Dispose() => Sum.Dispose();
}
