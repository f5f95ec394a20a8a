using MoeQuant.Kernels.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.GpuNode.Workload.Torch;

/// <summary>Σ xxᵀ in float32: bf16 activations on CUDA through cuBLAS on tensor cores (exact products, fp32 sums),
/// everything else through an fp32 matrix product.</summary>
internal static class HessianSum
{
    public static void Add(Tensor sum, Tensor activations)
    {
        using var scope = NewDisposeScope();
        var x = activations.reshape(-1, activations.shape[^1]);
        if (x.device.type == DeviceType.CUDA && x.dtype == ScalarType.BFloat16)
        {
            CublasGram.Accumulate(x.contiguous(), sum, 1f);
            return;
        }

        var x32 = x.to_type(ScalarType.Float32);
        sum.addmm_(x32.t(), x32);
    }
}
