using TorchSharp;

namespace MoeQuant.Kernels.Tests;

/// <summary>A fact that runs only where TorchSharp sees a CUDA device, so CI without GPUs stays green.</summary>
public sealed class GpuFactAttribute : FactAttribute
{
    public GpuFactAttribute()
    {
        if (!torch.cuda.is_available())
        {
            Skip = "no CUDA device";
        }
    }
}
