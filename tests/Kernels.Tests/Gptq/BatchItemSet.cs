using MoeQuant.Kernels.Gptq;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>A batch's items with the Hessians and weights they were made from, disposed together.</summary>
internal sealed class BatchItemSet : IDisposable
{
    public List<GptqBatchItem> Items { get; } = [];

    public List<Hessian> Hessians { get; } = [];

    public List<Tensor> Weights { get; } = [];

    public void Dispose()
    {
        Hessians.ForEach(h => h.Dispose());
        Weights.ForEach(w => w.Dispose());
    }
}
