using TorchSharp;

namespace MoeQuant.Kernels;

/// <summary>
/// The numeric precision every kernel in this assembly assumes. The host calls <see cref="Configure"/> once at start-up,
/// before the first kernel runs; it is process-wide and idempotent.
/// </summary>
public static class KernelsPrecision
{
    /// <summary>
    /// Turns TF32 off for cuBLAS and cuDNN, so fp32 matrix products run in full fp32, as MoE-Quant does
    /// (<c>allow_tf32=False</c>, <c>float32_matmul_precision("highest")</c>; TorchSharp 0.107 does not implement the
    /// latter, whose "highest" is the same switch for cuBLAS). Hessians are fp32 and the GPTQ lazy
    /// updates are fp32 GEMMs; TF32 would keep 10 of their 23 mantissa bits and change integer codes.
    /// </summary>
    public static void Configure()
    {
        torch.backends.cuda.matmul.allow_tf32 = false;
        torch.backends.cudnn.allow_tf32 = false;
    }

    /// <summary>True when the process is in the state <see cref="Configure"/> sets.</summary>
    public static bool IsConfigured =>
        !torch.backends.cuda.matmul.allow_tf32 && !torch.backends.cudnn.allow_tf32;
}
