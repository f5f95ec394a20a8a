using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// The operands of one 3xTF32 product as a single GEMM of three times the depth (Cuda/SplitTf32.cu): each value split
/// into its TF32 part and the remainder, the three terms interleaved along K (<c>[3k + t]</c>), so that
/// <c>Σ_t A_t·B_t = A_hi·B_hi + A_hi·B_lo + A_lo·B_hi</c> with the left operand's remainder in slot 2 and the right
/// operand's in slot 1, and so that any depth range [k0, k1) is the contiguous slice [3·k0, 3·k1). Used by the GPTQ
/// engine's large fp32-accurate products on CUDA: the triangular inverse, the Cholesky's trailing updates and the lazy
/// updates.
/// </summary>
internal static class Tf32Bands
{
    /// <summary>Slot of the left operand's remainder: its terms are hi, hi, lo.</summary>
    public const int Left = 2;

    /// <summary>Slot of the right operand's remainder: its terms are hi, lo, hi.</summary>
    public const int Right = 1;

    private const int Threads = 256;

    /// <summary>
    /// Splits a batch of (rows × cols) blocks whose K runs along the rows into bands (batch, rows, 3·cols): each band row
    /// holds one row's K values, contiguous, as a K-major operand needs.
    /// </summary>
    /// <param name="device">CUDA device ordinal.</param>
    /// <param name="source">Address of the first block's first element.</param>
    /// <param name="batchStride">Elements between consecutive blocks.</param>
    /// <param name="ld">Elements between consecutive rows of a block.</param>
    /// <param name="rows">Rows of a block.</param>
    /// <param name="cols">Columns of a block (K).</param>
    /// <param name="batch">Blocks.</param>
    /// <param name="slot"><see cref="Left"/> or <see cref="Right"/>.</param>
    public static Tensor Interleaved(int device, IntPtr source, long batchStride, int ld, int rows, int cols, int batch, int slot)
    {
        var bands = empty(batch, rows, 3 * cols, ScalarType.Float32, new Device(DeviceType.CUDA, device));
        var count = (long)batch * rows * cols;
        if (count > 0)
        {
            var grid = (uint)Math.Min(65535, (count + Threads - 1) / Threads);
            CudaModuleCache.Get(device, "SplitTf32", "split_tf32_interleaved").Launch(
                (grid, 1u, 1u), (Threads, 1u, 1u), 0,
                source, batchStride, ld, rows, cols, KernelArgument.Of(bands), count, slot);
        }

        return bands;
    }

    /// <summary>
    /// Splits a batch of (rows × cols) blocks whose K runs down the rows into bands (batch, cols, 3·rows): each band row
    /// holds one column's K values, contiguous, as a K-major right operand needs (a tiled transpose).
    /// </summary>
    /// <param name="device">CUDA device ordinal.</param>
    /// <param name="source">Address of the first block's first element.</param>
    /// <param name="batchStride">Elements between consecutive blocks.</param>
    /// <param name="ld">Elements between consecutive rows of a block.</param>
    /// <param name="rows">Rows of a block (K).</param>
    /// <param name="cols">Columns of a block.</param>
    /// <param name="batch">Blocks (at most 65 535).</param>
    /// <param name="slot"><see cref="Left"/> or <see cref="Right"/>.</param>
    public static Tensor Transposed(int device, IntPtr source, long batchStride, int ld, int rows, int cols, int batch, int slot)
    {
        var bands = empty(batch, cols, 3 * rows, ScalarType.Float32, new Device(DeviceType.CUDA, device));
        if ((long)batch * rows * cols > 0)
        {
            CudaModuleCache.Get(device, "SplitTf32", "split_tf32_transposed").Launch(
                ((uint)((cols + 31) / 32), (uint)((rows + 31) / 32), (uint)batch), (32u, 8u, 1u), 0,
                source, batchStride, ld, rows, cols, KernelArgument.Of(bands), slot);
        }

        return bands;
    }
}
