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

    /// <summary>An fp32 element's address, <paramref name="floats"/> elements past <paramref name="address"/>.</summary>
    public static IntPtr Offset(IntPtr address, long floats) => address + (nint)(floats * sizeof(float));

    /// <summary>The address of any tensor's first element, whatever its strides (the caller reads them): a view into a
    /// larger tensor, such as a block of a batch of matrices.</summary>
    public static IntPtr OfStrided(torch.Tensor tensor) => NativeMethods.THSTensor_data(tensor.Handle);

    /// <summary>The address of a 2-D tensor whose rows are contiguous but may be strided apart (a column slice of a
    /// wider matrix), and the distance between its rows in elements.</summary>
    public static (IntPtr Address, long RowStride) OfRows(torch.Tensor tensor)
    {
        if (tensor.dim() != 2 || (tensor.shape[1] > 1 && tensor.stride(1) != 1))
        {
            throw new ArgumentException("native kernels take 2-D tensors with contiguous rows only", nameof(tensor));
        }

        return (NativeMethods.THSTensor_data(tensor.Handle), tensor.stride(0));
    }
}
