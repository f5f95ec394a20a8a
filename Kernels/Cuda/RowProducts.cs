using TorchSharp;

namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// <c>C = alpha·P·Qᵀ + beta·C</c> for blocks P (p × k) and Q (q × k) whose depth runs along their rows, fp32-accurate on
/// TF32 tensor cores: the steps of <see cref="LinearAlgebra.ReverseCholesky"/> (trailing updates, triangular solves).
/// Each operand is split once into 3xTF32 bands (<see cref="Tf32Bands"/>, K interleaved along the rows), so every part
/// of C is one strided-batched cuBLAS product of three times the depth, written straight into C: with beta = 1 the block
/// is read and written once, with no temporary of its size. Both operands are K-major (op T, op N), the layout TF32
/// tensor-core GEMMs run fastest (ncu: 45% of the tensor pipe, a row-major operand transposed a third of that).
/// </summary>
internal static class RowProducts
{
    /// <summary>A part of C: its columns [First, Last) (rows of Q) over its rows [0, Rows) (rows of P).</summary>
    public readonly record struct Part(int First, int Last, int Rows);

    /// <summary>Computes every part of C; C may overlap P or Q (both are read into their bands first).</summary>
    /// <param name="device">CUDA device ordinal.</param>
    /// <param name="batch">Matrices.</param>
    /// <param name="p">P's first row.</param>
    /// <param name="pRows">P's rows (the largest part's rows at most are read).</param>
    /// <param name="q">Q's first row.</param>
    /// <param name="qRows">Q's rows.</param>
    /// <param name="depth">k: the columns of P and Q.</param>
    /// <param name="c">C's first element.</param>
    /// <param name="parts">The parts of C to compute.</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="beta">Scale of C's old values (0: not read).</param>
    public static void Multiply(
        int device, int batch, TriangularProducts.Block p, int pRows, TriangularProducts.Block q, int qRows, int depth,
        TriangularProducts.Block c, IReadOnlyList<Part> parts, float alpha, float beta)
    {
        if (batch == 0 || depth == 0 || parts.Count == 0)
        {
            return;
        }

        // (E, q, 3k) and (E, p, 3k): row i holds the terms of its K values, contiguous.
        using var left = Tf32Bands.Interleaved(device, q.Address, q.BatchStride, q.Ld, qRows, depth, batch, Tf32Bands.Left);
        using var right = Tf32Bands.Interleaved(device, p.Address, p.BatchStride, p.Ld, pRows, depth, batch, Tf32Bands.Right);
        var (l, r) = (DevicePointer.Of(left), DevicePointer.Of(right));
        var bandDepth = 3 * depth;
        foreach (var (first, last, rows) in parts)
        {
            // Column-major, the row-major part C[0:rows, first:last] is its transpose (last − first) × rows with ld c.Ld:
            // Partᵀ = alpha·op_T(Q' rows first:last, as 3k × (last − first)) · op_N(P' rows 0:rows, as 3k × rows) + beta·Partᵀ.
            Cublas.GemmStridedBatched(
                device, Cublas.OpT, Cublas.OpN, last - first, rows, bandDepth, alpha,
                DevicePointer.Offset(l, (long)first * bandDepth), bandDepth, (long)qRows * bandDepth,
                r, bandDepth, (long)pRows * bandDepth,
                beta, DevicePointer.Offset(c.Address, first), c.Ld, c.BatchStride,
                batch, Cublas.Compute32FFastTf32);
        }
    }
}
