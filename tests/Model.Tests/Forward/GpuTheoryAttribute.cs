using TorchSharp;

namespace MoeQuant.Model.Tests.Forward;

/// <summary>A theory that runs only where TorchSharp sees a CUDA device, so CI without GPUs stays green.</summary>
public sealed class GpuTheoryAttribute : TheoryAttribute
{
    public GpuTheoryAttribute()
    {
        if (!torch.cuda.is_available())
        {
            Skip = "no CUDA device";
        }
    }
}
