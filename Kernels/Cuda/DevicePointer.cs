using MoeQuant.Kernels.Native;
using TorchSharp;

namespace MoeQuant.Kernels.Cuda;

/// <summary>Raw addresses of TorchSharp tensors, for kernels and cuBLAS.</summary>
public static class DevicePointer
{
    /// <summary>The address of a contiguous tensor's first element (at::Tensor::data_ptr).</summary>
    public static IntPtr Of(torch.Tensor tensor)
    {
        if (!tensor.is_contiguous())
        {
            throw new ArgumentException("native kernels take contiguous tensors only", nameof(tensor));
        }

        return NativeMethods.THSTensor_data(tensor.Handle);
    }
}
