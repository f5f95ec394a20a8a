using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Fp8;

/// <summary>
/// Block-wise FP8 dequantization of DeepSeek-V3 weights (FORMATS.md §2.5):
/// <c>W[r, c] = fp8(weight[r, c]) * scaleInv[r / block, c / block]</c>, multiplied in f32 and rounded once to the
/// output type. Edge blocks that are only partly covered by the weight use their scale entry like full blocks.
/// Runs wherever its inputs live (CPU or CUDA) through TorchSharp.
/// </summary>
public static class Fp8BlockDequantizer
{
    /// <summary>DeepSeek-V3's <c>weight_block_size</c> (128 × 128).</summary>
    public const int DefaultBlockSize = 128;

    /// <summary>The scale shape a weight of <paramref name="rows"/> × <paramref name="cols"/> needs:
    /// [ceil(rows / blockSize), ceil(cols / blockSize)].</summary>
    public static long[] ScaleShape(long rows, long cols, int blockSize = DefaultBlockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        return [CeilDiv(rows, blockSize), CeilDiv(cols, blockSize)];
    }

    /// <summary>
    /// Dequantizes one weight.
    /// </summary>
    /// <param name="weight">FP8 E4M3 codes as uint8 (ScalarType.Byte), [rows, cols], on any device.</param>
    /// <param name="scaleInv">Floating (F32 in DeepSeek checkpoints) [ceil(rows / blockSize), ceil(cols / blockSize)];
    /// multiplied, not divided.</param>
    /// <param name="outputType">A floating type, usually BFloat16 or Float32.</param>
    /// <param name="blockSize">Edge of the square scale blocks.</param>
    /// <param name="device">Where to compute and return the result; the weight's device when null. The inputs are
    /// moved there first, so the FP8 bytes (not the wider result) cross the bus.</param>
    /// <returns>A new contiguous [rows, cols] tensor of <paramref name="outputType"/>.</returns>
    /// <exception cref="ArgumentException">The dtypes, ranks or the scale shape do not match.</exception>
    public static Tensor Dequantize(
        Tensor weight, Tensor scaleInv, ScalarType outputType = ScalarType.BFloat16, int blockSize = DefaultBlockSize, Device? device = null)
    {
        Validate(weight, scaleInv, outputType, blockSize);
        var rows = weight.shape[0];
        var cols = weight.shape[1];
        var target = device ?? weight.device;
        var result = empty([rows, cols], outputType, target);

        using var scope = NewDisposeScope();
        var table = Fp8E4M3.TableTensor(target);
        var codes = weight.to(target);
        var scale = scaleInv.to(ScalarType.Float32, target);
        // CPU: one block row at a time, so the f32 and int32 temporaries stay a few MB that the allocator reuses
        // (fresh pages cost more than the arithmetic). CUDA: the whole weight at once, to keep kernel launches few.
        var rowsPerPass = target.type == DeviceType.CPU ? blockSize : rows;
        for (var start = 0L; start < rows; start += rowsPerPass)
        {
            using var passScope = NewDisposeScope();
            var passRows = Math.Min(rowsPerPass, rows - start);

            // 1) decode through the table; index_select takes int32 indices, half the size of int64 ones.
            var indices = codes.narrow(0, start, passRows).to(ScalarType.Int32).reshape(-1);
            var values = table.index_select(0, indices).view(passRows, cols);

            // 2) multiply each block by its scale in place, in f32 (no full-size expanded copy of the scales).
            MultiplyByBlockScales(values, scale.narrow(0, start / blockSize, CeilDiv(passRows, blockSize)), blockSize);

            // 3) round once, into the result.
            result.narrow(0, start, passRows).copy_(values);
        }

        return result;
    }

    private static void Validate(Tensor weight, Tensor scaleInv, ScalarType outputType, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        if (weight.dtype != ScalarType.Byte || weight.dim() != 2)
        {
            throw new ArgumentException($"weight must be a 2-D uint8 tensor of FP8 codes, got {weight.dtype} {Format(weight.shape)}", nameof(weight));
        }

        if (!is_floating_point(scaleInv) || scaleInv.dim() != 2)
        {
            throw new ArgumentException($"weight_scale_inv must be a 2-D floating tensor, got {scaleInv.dtype} {Format(scaleInv.shape)}", nameof(scaleInv));
        }

        var expected = ScaleShape(weight.shape[0], weight.shape[1], blockSize);
        if (!scaleInv.shape.SequenceEqual(expected))
        {
            throw new ArgumentException($"weight_scale_inv has shape {Format(scaleInv.shape)}, expected {Format(expected)}", nameof(scaleInv));
        }

        if (!is_floating_point(outputType))
        {
            throw new ArgumentException($"output type must be floating, got {outputType}", nameof(outputType));
        }
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
                var rowBlocks = CeilDiv(rowLength, blockSize);
                var colBlocks = CeilDiv(colLength, blockSize);
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

    private static long CeilDiv(long n, long d) => (n + d - 1) / d;

    private static string Format(IEnumerable<long> shape) => $"[{string.Join(", ", shape)}]";
}
