using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// GPTQ's lazy update of later columns, accumulated in place: <c>Wt[e, end:stop, :] += F[f, start:end, end:stop]ᵀ · D[e]</c>,
/// fp32-accurate on TF32 tensor cores. The 3xTF32 terms (hi·hi + hi·lo + lo·hi) run as one strided-batched cuBLAS product of
/// three times the depth (<see cref="Tf32Bands"/>), accumulated straight into the weights (beta = 1), so the (C − end) × R
/// tail is read and written once per update, where a product per term would move it three times. Both operands' bands are
/// transposed so that they are K-major, the layout TF32 tensor-core GEMMs run fastest (ncu: 45% of the tensor pipe
/// against 25% with the errors row-major and 32% with the factor rows too).
/// </summary>
internal static class LazyBlockUpdate
{
    /// <summary>Applies the update of columns [start, start + width) to columns [start + width, stop) of every matrix.</summary>
    /// <param name="wt">(E, C, R) fp32 contiguous: transposed weights in processing order.</param>
    /// <param name="factor">(F, C, C) fp32 contiguous, F dividing E: matrix e uses factor e mod F (see <see cref="FusedGptqLoop.Run"/>).</param>
    /// <param name="error">(E, S, R) fp32 contiguous: errors of a span of columns.</param>
    /// <param name="errorRow">Row of <paramref name="error"/> that holds column <paramref name="start"/>.</param>
    /// <param name="start">First column whose errors are applied.</param>
    /// <param name="width">Columns whose errors are applied.</param>
    /// <param name="stop">End (exclusive) of the updated columns.</param>
    public static void Apply(Tensor wt, Tensor factor, Tensor error, int errorRow, int start, int width, int stop)
    {
        var (matrices, columns, rows) = ((int)wt.shape[0], (int)wt.shape[1], (int)wt.shape[2]);
        var factors = (int)factor.shape[0];
        var errorRows = (int)error.shape[1];
        var end = start + width;
        var rest = stop - end;
        if (rest <= 0)
        {
            return;
        }

        var device = wt.device.index;
        var (w, u, d) = (DevicePointer.Of(wt), DevicePointer.Of(factor), DevicePointer.Of(error));
        // Bands, both K-major (K = the span's columns, contiguous): errors transposed, (E, R, 3·width), row r the terms of
        // its errors; factor rows transposed, (F, rest, 3·width), row j the terms of column end + j.
        using var errorBands = Tf32Bands.Transposed(device, DevicePointer.Offset(d, (long)errorRow * rows), (long)errorRows * rows, rows, width, rows, matrices, Tf32Bands.Left);
        using var factorBands = Tf32Bands.Transposed(device, DevicePointer.Offset(u, ((long)start * columns) + end), (long)columns * columns, columns, width, rest, factors, Tf32Bands.Right);
        var (e, f) = (DevicePointer.Of(errorBands), DevicePointer.Of(factorBands));

        // One product per group of matrices that walk the factors in order: all of them for a shared factor (stride 0),
        // else F at a time (tied weight positions reuse factors 0..F-1).
        var perProduct = factors == 1 ? matrices : factors;
        var depth = 3 * width;
        for (var first = 0; first < matrices; first += perProduct)
        {
            // Column-major, R the leading dimension: Tailᵀ (R × rest) += op_T(E', 3w × R, ld 3w) · op_N(F', 3w × rest, ld 3w).
            Cublas.GemmStridedBatched(
                device, Cublas.OpT, Cublas.OpN, rows, rest, depth, 1f,
                DevicePointer.Offset(e, (long)first * depth * rows), depth, (long)depth * rows,
                f, depth, factors == 1 ? 0L : (long)depth * rest,
                1f, DevicePointer.Offset(w, (((long)first * columns) + end) * rows), rows, (long)columns * rows,
                perProduct, Cublas.Compute32FFastTf32);
        }
    }
}
