using MoeQuant.Kernels.Native;
using TorchSharp;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// Y = X·Wᵀ of bf16 operands with f32 accumulation and f32 output on tensor cores (cublasGemmEx, fp32 compute). For
/// operands that are bf16 values anyway it equals the f32 product of their f32 copies up to the summation order: each
/// product of two bf16 values is exact in f32.
/// </summary>
public static class CublasLinear
{
    /// <summary>Whether the product takes these tensors: contiguous bf16 on one CUDA device.</summary>
    public static bool Applies(torch.Tensor input, torch.Tensor weight) =>
        input.device_type == DeviceType.CUDA && input.dtype == torch.ScalarType.BFloat16 && weight.dtype == torch.ScalarType.BFloat16
        && input.dim() == 2 && weight.dim() == 2 && input.is_contiguous() && weight.is_contiguous()
        && weight.device_type == DeviceType.CUDA && weight.device_index == input.device_index;

    /// <param name="input">X: [n, k] bf16.</param>
    /// <param name="weight">W: [m, k] bf16.</param>
    /// <returns>[n, m] f32.</returns>
    public static unsafe torch.Tensor ToFloat32(torch.Tensor input, torch.Tensor weight)
    {
        var (n, k, m) = (checked((int)input.shape[0]), checked((int)input.shape[1]), checked((int)weight.shape[0]));
        var result = torch.empty([n, m], torch.ScalarType.Float32, input.device);
        if (n == 0 || m == 0)
        {
            return result;
        }

        // Row-major Y (n×m) is column-major Yᵀ (m×n) = W·Xᵀ: W's buffer is column-major Wᵀ (k×m), taken transposed;
        // X's buffer is column-major Xᵀ (k×n).
        var (alpha, beta) = (1f, 0f);
        Cublas.Check(NativeMethods.cublasGemmEx(
            Cublas.Handle(input.device.index), Cublas.OpT, Cublas.OpN, m, n, k, &alpha,
            DevicePointer.Of(weight), Cublas.R16BF, k, DevicePointer.Of(input), Cublas.R16BF, k,
            &beta, DevicePointer.Of(result), Cublas.R32F, m, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmEx");
        return result;
    }
}
