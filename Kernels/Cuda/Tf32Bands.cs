using TorchSharp;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// Cuda/SplitTf32.cu <c>split_tf32_bands</c>: a batch of strided (rows × cols) fp32 blocks into contiguous TF32 hi/lo row
/// bands, the operands of one K-concatenated 3xTF32 product (<see cref="LazyBlockUpdate"/>, <see cref="TrailingUpdate"/>).
/// </summary>
internal static class Tf32Bands
{
    private const int Threads = 256;

    /// <summary>Splits the blocks into <paramref name="bands"/> (batch, 3·rows, cols), lo in band <paramref name="loSlot"/> (1: hi lo hi, 2: hi hi lo).</summary>
    /// <param name="device">CUDA device ordinal.</param>
    /// <param name="source">Address of the first block's first element.</param>
    /// <param name="batchStride">Elements between consecutive blocks.</param>
    /// <param name="ld">Elements between consecutive rows of a block.</param>
    /// <param name="rows">Rows of a block.</param>
    /// <param name="cols">Columns of a block.</param>
    /// <param name="batch">Blocks.</param>
    /// <param name="bands">(batch, 3·rows, cols) fp32 contiguous, on <paramref name="device"/>.</param>
    /// <param name="loSlot">The band that gets the remainder.</param>
    public static void Split(int device, IntPtr source, long batchStride, int ld, int rows, int cols, int batch, torch.Tensor bands, int loSlot)
    {
        var count = (long)batch * rows * cols;
        var blocks = (uint)Math.Min(65535, (count + Threads - 1) / Threads);
        CudaModuleCache.Get(device, "SplitTf32", "split_tf32_bands").Launch(
            (blocks, 1u, 1u), (Threads, 1u, 1u), 0,
            source, batchStride, ld, rows, cols, KernelArgument.Of(bands), count, loSlot);
    }
}
