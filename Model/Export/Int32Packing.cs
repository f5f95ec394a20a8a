using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace MoeQuant.Model.Export;

/// <summary>
/// compressed-tensors' <c>pack_to_int32</c> / <c>unpack_from_int32</c> (FORMATS.md §3.3–3.4): signed b-bit values are
/// offset by <c>2^(b−1)</c> to unsigned, and <c>32 / b</c> of them fill a 32-bit word, the lowest index in the
/// least-significant bits; a short last word is padded with unsigned 0. Words are returned as <see cref="int"/> with the
/// same bit pattern (two's complement, so a word with the top bit set is negative), as safetensors I32 stores them.
/// Matrices are row-major spans of <c>rows × columns</c> values.
/// </summary>
public static class Int32Packing
{
    /// <summary>Values per word: <c>32 / bits</c> (10 for 3 bits, whose two top bits stay 0).</summary>
    public static int ValuesPerWord(int bits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bits, 8);
        return 32 / bits;
    }

    /// <summary>Packs along the columns (the input dimension of a weight): [rows, ceil(columns / pf)].</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value lies outside the signed b-bit range.</exception>
    public static int[] PackRows(ReadOnlySpan<sbyte> values, int rows, int columns, int bits)
    {
        CheckLength(values.Length, rows, columns);
        var packed = new int[(long)rows * CeilDiv(columns, ValuesPerWord(bits))];
        PackRowsInto(values, columns, bits, packed, firstRow: 0);
        return packed;
    }

    /// <summary>
    /// <see cref="PackRows"/> of whole rows into <paramref name="destination"/> ([values / columns, ceil(columns / pf)]),
    /// so that a large matrix can be packed a block of rows at a time; <paramref name="firstRow"/> is the row of the
    /// matrix that <paramref name="values"/> starts at, for error messages.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A value lies outside the signed b-bit range.</exception>
    public static void PackRowsInto(ReadOnlySpan<sbyte> values, int columns, int bits, Span<int> destination, int firstRow)
    {
        var perWord = ValuesPerWord(bits);
        var words = CeilDiv(columns, perWord);
        var rows = columns == 0 ? 0 : values.Length / columns;
        CheckLength(values.Length, rows, columns);
        CheckLength(destination.Length, rows, words);
        for (var r = 0; r < rows; r++)
        {
            var row = values.Slice(r * columns, columns);
            var output = destination.Slice(r * words, words);
            // A unit state write packs every code of a layer: eight at a time where the width divides a byte.
            var done = 8 % bits == 0 && PackBytewise(row, MemoryMarshal.AsBytes(output), bits) ? columns / 8 * 8 / perWord : 0;
            PackWords(row, output, bits, firstRow + r, done);
        }
    }

    /// <summary>
    /// For widths dividing 8, a packed row's little-endian bytes are its codes back to back from the lowest bit, so each
    /// eight codes (one 64-bit load) become <paramref name="bits"/> bytes, the lanes combined by shifts (SWAR). Writes
    /// every whole group of eight; false, having written nothing reliable, when a code is out of range.
    /// </summary>
    private static bool PackBytewise(ReadOnlySpan<sbyte> row, Span<byte> output, int bits)
    {
        const ulong Low7 = 0x7F7F7F7F7F7F7F7F;
        const ulong High = 0x8080808080808080;
        const ulong Ones = 0x0101010101010101;
        var offset = Ones << (bits - 1);
        var outside = Ones * (byte)(0xFF << bits);
        var bytes = MemoryMarshal.AsBytes(row);
        for (var c = 0; c + 8 <= row.Length; c += 8)
        {
            var x = BinaryPrimitives.ReadUInt64LittleEndian(bytes.Slice(c, 8));
            // Each byte + 2^(b−1) modulo 256, no carry crossing into the next byte; in range when no high bit is left.
            var u = ((x & Low7) + offset) ^ (x & High);
            if ((u & outside) != 0)
            {
                return false;
            }

            var at = output.Slice(c / 8 * bits, bits);
            switch (bits)
            {
                case 8:
                    BinaryPrimitives.WriteUInt64LittleEndian(at, u);
                    break;
                case 4:
                    u = (u | (u >> 4)) & 0x00FF00FF00FF00FF;
                    u = (u | (u >> 8)) & 0x0000FFFF0000FFFF;
                    BinaryPrimitives.WriteUInt32LittleEndian(at, (uint)(u | (u >> 16)));
                    break;
                default:
                    u = (u | (u >> 6)) & 0x000F000F000F000F;
                    u = (u | (u >> 12)) & 0x000000FF000000FF;
                    BinaryPrimitives.WriteUInt16LittleEndian(at, (ushort)(u | (u >> 24)));
                    break;
            }
        }

        return true;
    }

    /// <summary>Words <paramref name="from"/> onwards of a row, code by code (any width, padding, range errors).</summary>
    private static void PackWords(ReadOnlySpan<sbyte> row, Span<int> output, int bits, int rowIndex, int from)
    {
        var perWord = ValuesPerWord(bits);
        var (offset, limit) = (1 << (bits - 1), 1u << bits);
        for (var k = from; k < output.Length; k++)
        {
            var word = 0u;
            var first = k * perWord;
            var count = Math.Min(perWord, row.Length - first);
            for (var i = 0; i < count; i++)
            {
                var u = (uint)(row[first + i] + offset);
                if (u >= limit)
                {
                    throw OutOfRange(row[first + i], bits, rowIndex, first + i);
                }

                word |= u << (bits * i);
            }

            output[k] = (int)word;
        }
    }

    /// <summary>Inverse of <see cref="PackRows"/>: the [rows, columns] signed values, padding dropped.</summary>
    public static sbyte[] UnpackRows(ReadOnlySpan<int> words, int rows, int columns, int bits)
    {
        var perWord = ValuesPerWord(bits);
        var wordsPerRow = CeilDiv(columns, perWord);
        CheckLength(words.Length, rows, wordsPerRow);
        var values = new sbyte[(long)rows * columns];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                values[(r * columns) + c] = Signed((uint)words[(r * wordsPerRow) + (c / perWord)], bits, c % perWord);
            }
        }

        return values;
    }

    /// <summary>
    /// Checks words from <see cref="PackRows"/> kept elsewhere (a unit state file): every bit outside the columns' codes
    /// (the padding of a row's last word, the top bits of 3-bit words) must be 0, as packing leaves it, so that the words
    /// can be copied instead of unpacked and packed again.
    /// </summary>
    /// <exception cref="ArgumentException">The length is not [rows, ceil(columns / pf)].</exception>
    /// <exception cref="ArgumentOutOfRangeException">A word has a bit set outside its codes.</exception>
    public static void RequireClearPadding(ReadOnlySpan<int> words, int rows, int columns, int bits)
    {
        var perWord = ValuesPerWord(bits);
        var wordsPerRow = CeilDiv(columns, perWord);
        CheckLength(words.Length, rows, wordsPerRow);
        var full = Used(perWord, bits);
        var last = Used(columns - ((wordsPerRow - 1) * perWord), bits);
        for (var r = 0; r < rows; r++)
        {
            var row = words.Slice(r * wordsPerRow, wordsPerRow);
            for (var k = 0; k < wordsPerRow; k++)
            {
                if (((uint)row[k] & ~(k == wordsPerRow - 1 ? last : full)) != 0)
                {
                    throw new ArgumentOutOfRangeException(
                        nameof(words), $"word [{r}, {k}] = 0x{(uint)row[k]:X8} has bits set outside its {bits}-bit codes of {columns} columns");
                }
            }
        }
    }

    /// <summary>Packs along the rows (dimension 0, as compressed-tensors packs zero points): [ceil(rows / pf), columns].</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value lies outside the signed b-bit range.</exception>
    public static int[] PackColumns(ReadOnlySpan<sbyte> values, int rows, int columns, int bits)
    {
        CheckLength(values.Length, rows, columns);
        var perWord = ValuesPerWord(bits);
        var packedRows = CeilDiv(rows, perWord);
        var packed = new int[(long)packedRows * columns];
        for (var r = 0; r < rows; r++)
        {
            var shift = bits * (r % perWord);
            for (var c = 0; c < columns; c++)
            {
                packed[((r / perWord) * columns) + c] |= (int)(Unsigned(values[(r * columns) + c], bits, r, c) << shift);
            }
        }

        return packed;
    }

    /// <summary>Inverse of <see cref="PackColumns"/>: the [rows, columns] signed values, padding dropped.</summary>
    public static sbyte[] UnpackColumns(ReadOnlySpan<int> words, int rows, int columns, int bits)
    {
        var perWord = ValuesPerWord(bits);
        CheckLength(words.Length, CeilDiv(rows, perWord), columns);
        var values = new sbyte[(long)rows * columns];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                values[(r * columns) + c] = Signed((uint)words[((r / perWord) * columns) + c], bits, r % perWord);
            }
        }

        return values;
    }

    /// <summary><c>q + 2^(b−1)</c>, checked to be within <c>[0, 2^b − 1]</c>.</summary>
    internal static uint Unsigned(sbyte value, int bits, long row, long column)
    {
        var unsigned = value + (1 << (bits - 1));
        return unsigned < 0 || unsigned >= 1 << bits ? throw OutOfRange(value, bits, row, column) : (uint)unsigned;
    }

    private static ArgumentOutOfRangeException OutOfRange(sbyte value, int bits, long row, long column) =>
        new(nameof(value), value, $"value at [{row}, {column}] is outside the signed {bits}-bit range [{-(1 << (bits - 1))}, {(1 << (bits - 1)) - 1}]");

    private static sbyte Signed(uint word, int bits, int index) =>
        (sbyte)((int)((word >> (bits * index)) & ((1u << bits) - 1)) - (1 << (bits - 1)));

    // The bits that n codes of a word occupy.
    private static uint Used(int n, int bits) => n * bits >= 32 ? uint.MaxValue : (1u << (n * bits)) - 1;

    internal static int CeilDiv(int n, int d) => (n + d - 1) / d;

    internal static void CheckLength(int length, int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        if (length != (long)rows * columns)
        {
            throw new ArgumentException($"{length} values given for a [{rows}, {columns}] matrix");
        }
    }
}
