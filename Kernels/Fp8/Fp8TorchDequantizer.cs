using static TorchSharp.torch;

namespace MoeQuant.Kernels.Fp8;

/// <summary>
/// FP8 block dequantization from libtorch operations, for CUDA devices: table gather, in-place block scaling, one
/// rounding copy into the result. One pass over the whole weight keeps kernel launches few.
/// </summary>
internal static class Fp8TorchDequantizer
{
    /// <param name="codes">uint8 [rows, cols] on the result's device.</param>
    /// <param name="scale">f32 [ceil(rows / blockSize), ceil(cols / blockSize)] on the result's device.</param>
    /// <param name="result">[rows, cols] of the output type, overwritten.</param>
    /// <param name="blockSize">Edge of the square scale blocks.</param>
    public static void Dequantize(Tensor codes, Tensor scale, Tensor result, int blockSize)
    {
        using var scope = NewDisposeScope();
        // 1) decode through the table; index_select takes int32 indices, half the size of int64 ones.
        var table = Fp8E4M3.TableTensor(result.device);
        var values = table.index_select(0, codes.to(ScalarType.Int32).reshape(-1)).view(codes.shape);

        // 2) multiply each block by its scale in place, in f32 (no full-size expanded copy of the scales).
        MultiplyByBlockScales(values, scale, blockSize);

        // 3) round once, into the result.
        result.copy_(values);
    }

    /// <summary>
    /// Splits values into at most four regions (full blocks, right edge, bottom edge, corner) so that each one is a
    /// plain [blockRows, rowsPerBlock, blockCols, colsPerBlock] view that broadcasts against its slice of the scales.
    /// </summary>
    private static void MultiplyByBlockScales(Tensor values, Tensor scale, int blockSize)
    {
        foreach (var (rowStart, rowLength) in Spans(values.shape[0], blockSize))
        {
            foreach (var (colStart, colLength) in Spans(values.shape[1], blockSize))
            {
                var rowBlocks = (rowLength + blockSize - 1) / blockSize;
                var colBlocks = (colLength + blockSize - 1) / blockSize;
                var region = values.narrow(0, rowStart, rowLength).narrow(1, colStart, colLength)
                    .view(rowBlocks, rowLength / rowBlocks, colBlocks, colLength / colBlocks);
                var factors = scale.narrow(0, rowStart / blockSize, rowBlocks).narrow(1, colStart / blockSize, colBlocks)
                    .unsqueeze(1).unsqueeze(3);
                region.mul_(factors);
            }
        }
    }

    /// <summary>The run of whole blocks, then the partial block at the end; empty runs are left out.</summary>
    private static IEnumerable<(long Start, long Length)> Spans(long length, int blockSize)
    {
        var whole = length / blockSize * blockSize;
        if (whole > 0)
        {
            yield return (0, whole);
        }

        if (length > whole)
        {
            yield return (whole, length - whole);
        }
    }
}
