using MoeQuant.Kernels.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Fp8;

/// <summary>FP8 block dequantization on a CUDA device with one fused kernel (Cuda/Fp8Dequant.cu): one pass over memory instead of the table-gather and broadcast temporaries of libtorch operations.</summary>
internal static class Fp8CudaDequantizer
{
    /// <summary>Whether the fused kernel writes <paramref name="outputType"/>.</summary>
    public static bool Supports(ScalarType outputType) =>
        outputType is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16;

    /// <param name="codes">(rows, cols) uint8 contiguous on the device.</param>
    /// <param name="scale">(⌈rows/B⌉, ⌈cols/B⌉) fp32 contiguous on the device.</param>
    /// <param name="result">(rows, cols) fp32/bf16/fp16 contiguous on the device.</param>
    /// <param name="blockSize">Scale block edge (128 in DeepSeek-V3).</param>
    public static void Dequantize(Tensor codes, Tensor scale, Tensor result, int blockSize)
    {
        var (rows, cols) = (codes.shape[0], codes.shape[1]);
        if (rows * cols == 0)
        {
            return;
        }

        var outputType = result.dtype switch
        {
            ScalarType.Float32 => 0,
            ScalarType.BFloat16 => 1,
            _ => 2,
        };
        const int Threads = 256;
        var columnBlocks = (uint)((cols + (Threads * 16) - 1) / (Threads * 16));
        var rowBlocks = (uint)Math.Min(rows, 65535L);
        var kernel = CudaModuleCache.Get(codes.device.index, "Fp8Dequant", "fp8_block_dequant");
        var contiguousScale = scale.contiguous();
        kernel.Launch((columnBlocks, rowBlocks, 1u), (Threads, 1u, 1u), 0,
            KernelArgument.Of(codes), KernelArgument.Of(contiguousScale), KernelArgument.Of(result), checked((int)rows), checked((int)cols), blockSize, outputType);
    }
}
