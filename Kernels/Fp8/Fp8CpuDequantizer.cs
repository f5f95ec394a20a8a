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
        switch (result.dtype)
        {
            case ScalarType.BFloat16: Run<BFloat16Store>(codes, scale, result, blockSize); break;
            case ScalarType.Float16: Run<HalfStore>(codes, scale, result, blockSize); break;
            case ScalarType.Float32: Run<SingleStore>(codes, scale, result, blockSize); break;
            case ScalarType.Float64: Run<DoubleStore>(codes, scale, result, blockSize); break;
            default: throw new ArgumentException($"unsupported output type {result.dtype}", nameof(result));
        }
    }

    private static void Run<TStore>(Tensor codes, Tensor scale, Tensor result, int blockSize)
        where TStore : IStore
    {
        if (result.numel() == 0)
        {
            // Nothing to write, and TorchSharp's data accessor refuses empty tensors.
            return;
        }

        var (rows, cols) = (codes.shape[0], codes.shape[1]);
        var scales = scale.contiguous().data<float>().ToArray();
        var scaleCols = (int)scale.shape[1];
        var blockRowsPerChunk = Math.Max(1, ChunkBytes / (blockSize * Math.Max(cols, 1) * TStore.Size));
        for (var firstBlockRow = 0L; firstBlockRow * blockSize < rows; firstBlockRow += blockRowsPerChunk)
        {
            var start = firstBlockRow * blockSize;
            var length = Math.Min(blockRowsPerChunk * blockSize, rows - start);
            using var codeChunk = codes.narrow(0, start, length);
            using var resultChunk = result.narrow(0, start, length);
            fixed (byte* codeBase = codeChunk.bytes)
            fixed (byte* resultBase = resultChunk.bytes)
            {
                var (source, destination) = ((nint)codeBase, (nint)resultBase);
                var chunkFirstBlockRow = (int)firstBlockRow;
                Parallel.For(0, (length + blockSize - 1) / blockSize, blockRow =>
                {
                    var rowEnd = Math.Min((blockRow + 1) * blockSize, length);
                    var rowScales = new ReadOnlySpan<float>(scales, (chunkFirstBlockRow + (int)blockRow) * scaleCols, scaleCols);
                    for (var row = blockRow * blockSize; row < rowEnd; row++)
                    {
                        DequantizeRow<TStore>((byte*)source + (row * cols), (byte*)destination + (row * cols * TStore.Size), cols, rowScales, blockSize);
                    }
                });
            }
        }
    }

    private static void DequantizeRow<TStore>(byte* codes, byte* destination, long cols, ReadOnlySpan<float> rowScales, int blockSize)
        where TStore : IStore
    {
        var table = Fp8E4M3.Table;
        for (var block = 0; block < rowScales.Length; block++)
        {
            var factor = rowScales[block];
            var end = Math.Min((long)(block + 1) * blockSize, cols);
            for (var col = (long)block * blockSize; col < end; col++)
            {
                TStore.Store(destination, col, table[codes[col]] * factor);
            }
        }
    }

    /// <summary>Writes one f32 product into a row of the output type; static so the JIT specialises each loop.</summary>
    private interface IStore
    {
        static abstract int Size { get; }

        static abstract void Store(byte* row, long col, float value);
    }

    /// <summary>Round to nearest even, NaN as the canonical 0x7FC0: exactly libtorch's f32 → bf16 conversion.</summary>
    private readonly struct BFloat16Store : IStore
    {
        public static int Size => 2;

        public static void Store(byte* row, long col, float value)
        {
            var bits = BitConverter.SingleToUInt32Bits(value);
            ((ushort*)row)[col] = float.IsNaN(value) ? (ushort)0x7FC0 : (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
        }
    }

    private readonly struct HalfStore : IStore
    {
        public static int Size => 2;

        public static void Store(byte* row, long col, float value) => ((Half*)row)[col] = (Half)value;
    }

    private readonly struct SingleStore : IStore
    {
        public static int Size => 4;

        public static void Store(byte* row, long col, float value) => ((float*)row)[col] = value;
    }

    private readonly struct DoubleStore : IStore
    {
        public static int Size => 8;

        public static void Store(byte* row, long col, float value) => ((double*)row)[col] = value;
    }
}
