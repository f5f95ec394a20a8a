using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Fp8;

/// <summary>
/// FP8 block dequantization on the CPU as one managed pass: per element a table lookup, an f32 multiply and one
/// rounding, written straight into the result, block rows spread over the cores. Unlike a chain of libtorch operations
/// it allocates no full-size temporaries, whose fresh pages cost more than the arithmetic.
/// </summary>
internal static unsafe class Fp8CpuDequantizer
{
    // Rows per pinned chunk are capped so that a chunk of the result stays below the 2 GiB limit of a span.
    private const long ChunkBytes = 1L << 30;

    /// <param name="codes">uint8 [rows, cols], contiguous, on the CPU.</param>
    /// <param name="scale">f32 [ceil(rows / blockSize), ceil(cols / blockSize)], on the CPU.</param>
    /// <param name="result">[rows, cols] of BFloat16, Float16, Float32 or Float64, contiguous, on the CPU; overwritten.</param>
    /// <param name="blockSize">Edge of the square scale blocks.</param>
    public static void Dequantize(Tensor codes, Tensor scale, Tensor result, int blockSize)
    {
        var output = result.dtype;
        if (output is not (ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float32 or ScalarType.Float64))
        {
            throw new ArgumentException($"unsupported output type {output}", nameof(result));
        }

        if (result.numel() == 0)
        {
            // Nothing to write, and TorchSharp's data accessor refuses empty tensors.
            return;
        }

        var (rows, cols) = (codes.shape[0], codes.shape[1]);
        var scales = scale.contiguous().data<float>().ToArray();
        var scaleCols = (int)scale.shape[1];
        var outputSize = result.ElementSize;
        var blockRowsPerChunk = Math.Max(1, ChunkBytes / (blockSize * cols * outputSize));
        for (var firstBlockRow = 0L; firstBlockRow * blockSize < rows; firstBlockRow += blockRowsPerChunk)
        {
            var start = firstBlockRow * blockSize;
            var length = Math.Min(blockRowsPerChunk * blockSize, rows - start);
            using var codeChunk = codes.narrow(0, start, length);
            using var resultChunk = result.narrow(0, start, length);
            fixed (byte* codeBase = codeChunk.bytes)
            fixed (byte* resultBase = resultChunk.bytes)
            {
                var (source, destination, chunkFirstBlockRow) = ((nint)codeBase, (nint)resultBase, (int)firstBlockRow);
                Parallel.For(
                    0,
                    (length + blockSize - 1) / blockSize,
                    () => new float[cols],
                    (blockRow, _, scratch) =>
                    {
                        var rowEnd = Math.Min((blockRow + 1) * blockSize, length);
                        var rowScales = new ReadOnlySpan<float>(scales, (chunkFirstBlockRow + (int)blockRow) * scaleCols, scaleCols);
                        for (var row = blockRow * blockSize; row < rowEnd; row++)
                        {
                            var target = (byte*)destination + (row * cols * outputSize);
                            fixed (float* values = scratch)
                            {
                                // f32 output is decoded in place; the others go through the scratch row, then round once.
                                DecodeRow((byte*)source + (row * cols), output == ScalarType.Float32 ? (float*)target : values, cols, rowScales, blockSize);
                                Store(output, values, target, cols);
                            }
                        }

                        return scratch;
                    },
                    _ => { });
            }
        }
    }

    // Fully optimised from the first call: a weight is a handful of calls, too few for tiered compilation to catch up.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DecodeRow(byte* codes, float* values, long cols, ReadOnlySpan<float> rowScales, int blockSize)
    {
        var table = Fp8E4M3.Table;
        for (var block = 0; block < rowScales.Length; block++)
        {
            var factor = rowScales[block];
            var end = Math.Min((long)(block + 1) * blockSize, cols);
            for (var col = (long)block * blockSize; col < end; col++)
            {
                values[col] = table[codes[col]] * factor;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Store(ScalarType output, float* values, byte* target, long cols)
    {
        switch (output)
        {
            case ScalarType.BFloat16:
                ToBFloat16(values, (ushort*)target, cols);
                break;
            case ScalarType.Float16:
                for (var col = 0L; col < cols; col++)
                {
                    ((Half*)target)[col] = (Half)values[col];
                }

                break;
            case ScalarType.Float64:
                for (var col = 0L; col < cols; col++)
                {
                    ((double*)target)[col] = values[col];
                }

                break;
        }
    }

    /// <summary>Round to nearest even, NaN as the canonical 0x7FC0: exactly libtorch's f32 → bf16 conversion.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ToBFloat16(float* values, ushort* target, long count)
    {
        var col = 0L;
        for (; Vector256.IsHardwareAccelerated && col + 16 <= count; col += 16)
        {
            var low = RoundToBFloat16(Vector256.Load((uint*)(values + col)));
            var high = RoundToBFloat16(Vector256.Load((uint*)(values + col + 8)));
            Vector256.Narrow(low, high).Store(target + col);
        }

        for (; col < count; col++)
        {
            // The tail goes through the same lane arithmetic, so there is one definition of the rounding.
            target[col] = (ushort)RoundToBFloat16(Vector256.Create(BitConverter.SingleToUInt32Bits(values[col]))).GetElement(0);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RoundToBFloat16(Vector256<uint> bits)
    {
        var rounded = (bits + Vector256.Create(0x7FFFu) + ((bits >> 16) & Vector256<uint>.One)) >> 16;
        // Magnitudes fit in 31 bits, so the signed compare is exact and avoids the slower unsigned one.
        var isNaN = Vector256.GreaterThan((bits & Vector256.Create(0x7FFFFFFFu)).AsInt32(), Vector256.Create(0x7F800000)).AsUInt32();
        return Vector256.ConditionalSelect(isNaN, Vector256.Create(0x7FC0u), rounded);
    }
}
