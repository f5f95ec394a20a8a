using TorchSharp;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// GPTQ's lazy update of the columns after a block, accumulated in place: <c>Wt[e, end:, :] += Û[f, start:end, end:]ᵀ · D[e]</c>
/// in plain fp32, as strided-batched cuBLAS products with beta = 1 written straight into the weights. A product
/// followed by an add wrote the (C − end) × R update and read it back: on H100, the add alone took as long as the
/// product.
/// </summary>
internal static class LazyBlockUpdate
{
    /// <summary>Applies the update of block [start, start + width) to every matrix.</summary>
    /// <param name="wt">(E, C, R) fp32 contiguous: transposed weights in processing order.</param>
    /// <param name="uhat">(F, C, C) fp32 contiguous, F dividing E: matrix e uses factor e mod F (see <see cref="FusedGptqLoop.Run"/>).</param>
    /// <param name="error">(E, blockSize, R) fp32 contiguous: the block's scaled errors, first <paramref name="width"/> rows used.</param>
    /// <param name="start">First column of the block.</param>
    /// <param name="width">Columns in the block; the update covers columns start + width .. C.</param>
    public static void Apply(torch.Tensor wt, torch.Tensor uhat, torch.Tensor error, int start, int width)
    {
        var (matrices, columns, rows) = ((int)wt.shape[0], (int)wt.shape[1], (int)wt.shape[2]);
        var factors = (int)uhat.shape[0];
        var blockSize = (int)error.shape[1];
        var end = start + width;
        var rest = columns - end;
        if (rest <= 0)
        {
            return;
        }

        var device = wt.device.index;
        var (w, u, d) = (DevicePointer.Of(wt), DevicePointer.Of(uhat), DevicePointer.Of(error));
        // One product per group of matrices that walk the factors in order: all of them for a shared factor (stride 0),
        // else F at a time (tied weight positions reuse factors 0..F-1).
        var perProduct = factors == 1 ? matrices : factors;
        for (var first = 0; first < matrices; first += perProduct)
        {
            // Column-major view, R the leading dimension: Tailᵀ (R × rest) += Dᵀ (R × width) · Û[start:end, end:] (width × rest).
            // Û's block rows, row-major with stride C, are the column-major (rest × width) matrix transposed: op T, ld C.
            Cublas.GemmStridedBatched(
                device, Cublas.OpN, Cublas.OpT, rows, rest, width, 1f,
                Offset(d, (long)first * blockSize * rows), rows, (long)blockSize * rows,
                Offset(u, ((long)start * columns) + end), columns, factors == 1 ? 0L : (long)columns * columns,
                1f, Offset(w, (((long)first * columns) + end) * rows), rows, (long)columns * rows,
                perProduct, Cublas.Compute32F);
        }
    }

    private static IntPtr Offset(IntPtr pointer, long floats) => pointer + (nint)(floats * sizeof(float));
}
