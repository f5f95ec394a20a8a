using MoeQuant.Kernels.Native;
using TorchSharp;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// H += α·XᵀX with bf16 X and fp32 H on tensor cores (cublasGemmEx, fp32 compute): exact products of bf16 values with
/// fp32 accumulation, about 14× the fp32 addmm MoE-Quant uses (PERFORMANCE.md).
/// </summary>
public static class CublasGram
{
    /// <summary>Adds α·XᵀX into <paramref name="hessian"/>.</summary>
    /// <param name="activations">X: (tokens, columns) bf16, contiguous, on a CUDA device.</param>
    /// <param name="hessian">H: (columns, columns) fp32, contiguous, same device; updated in place.</param>
    /// <param name="alpha">Scale of the product (the spec's 2/n style factors).</param>
    public static unsafe void Accumulate(torch.Tensor activations, torch.Tensor hessian, float alpha)
    {
        var device = activations.device.index;
        var tokens = checked((int)activations.shape[0]);
        var columns = checked((int)activations.shape[1]);
        if (activations.dtype != torch.ScalarType.BFloat16 || hessian.dtype != torch.ScalarType.Float32
            || hessian.shape[0] != columns || hessian.shape[1] != columns
            || hessian.device_type != activations.device_type || hessian.device_index != activations.device_index)
        {
            throw new ArgumentException($"expected X (tokens, C) bf16 and H (C, C) fp32 on one device, got {activations.dtype}[{tokens},{columns}] and {hessian.dtype}[{string.Join(",", hessian.shape)}]");
        }

        if (tokens == 0)
        {
            return;
        }

        // Row-major X (T×C) is column-major Xᵀ (C×T, ld C); H = Xᵀ·(Xᵀ)ᵀ is symmetric, so its layout needs no care.
        var beta = 1f;
        var x = DevicePointer.Of(activations);
        Cublas.Check(NativeMethods.cublasGemmEx(
            Cublas.Handle(device), Cublas.OpN, Cublas.OpT, columns, columns, tokens, &alpha,
            x, Cublas.R16BF, columns, x, Cublas.R16BF, columns,
            &beta, DevicePointer.Of(hessian), Cublas.R32F, columns, Cublas.Compute32F, Cublas.GemmDefault), "cublasGemmEx");
    }
}
