using MoeQuant.Kernels.Cuda;
using TorchSharp;

namespace MoeQuant.Kernels.Fused;

/// <summary>The layout ForwardFusions.cu reads: bf16 on CUDA, rows of a multiple of eight values starting on 16-byte boundaries.</summary>
internal static class BfloatRows
{
    public static bool Fit(torch.Tensor tensor)
    {
        if (tensor.device_type != DeviceType.CUDA || tensor.dtype != torch.ScalarType.BFloat16 || tensor.dim() != 2
            || tensor.shape[1] % 8 != 0 || tensor.stride(0) % 8 != 0 || (tensor.shape[1] > 1 && tensor.stride(1) != 1))
        {
            return false;
        }

        return DevicePointer.OfRows(tensor).Address % 16 == 0;
    }

    public static CudaKernel Kernel(torch.Tensor on, string function) => CudaModuleCache.Get(on.device.index, "ForwardFusions", function);
}
