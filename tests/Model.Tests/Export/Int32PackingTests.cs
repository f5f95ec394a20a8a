using System.Runtime.InteropServices;
using MoeQuant.Model.Export;

namespace MoeQuant.Model.Tests.Export;

/// <summary>The bit layout of compressed-tensors' weight_packed and weight_zero_point (FORMATS.md §3.3–3.4, §3.10),
/// pinned by words worked out by hand.</summary>
public sealed class Int32PackingTests
{
    // FORMATS.md §3.10: a 2×16 weight, 4-bit, two groups of 8 per row.
    private static readonly sbyte[] WorkedCodes =
    [
        -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7,
        7, 0, -1, 3, -8, 2, 5, -4, 1, 1, 1, 1, -2, -2, -2, -2,
    ];

    [Fact]
    public void Should_pack_the_worked_4_bit_example_into_the_words_of_the_spec()
    {
        // u = q + 8: row 0 is 0..15, so its nibbles read 0x76543210 and 0xFEDCBA98 from the top; row 1's first group
        // u = 15 8 7 11 0 10 13 4 reads 0x4DA0B78F, its second 9 9 9 9 6 6 6 6 reads 0x66669999.
        var packed = Int32Packing.PackRows(WorkedCodes, 2, 16, 4);

        Assert.Equal([0x76543210, unchecked((int)0xFEDCBA98), 0x4DA0B78F, 0x66669999], packed);
        Assert.Equal([1985229328, -19088744, 1302378383, 1718000025], packed);
        Assert.Equal(
            [0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE, 0x8F, 0xB7, 0xA0, 0x4D, 0x99, 0x99, 0x66, 0x66],
            MemoryMarshal.AsBytes(packed.AsSpan()).ToArray());
    }

    [Fact]
    public void Should_pack_8_bit_codes_four_to_a_word_offset_by_128()
    {
        // u = 0, 127, 128, 255 → bytes 00 7F 80 FF from the bottom.
        var packed = Int32Packing.PackRows([-128, -1, 0, 127], 1, 4, 8);

        Assert.Equal([unchecked((int)0xFF807F00)], packed);
        Assert.Equal(-8356096, packed[0]);
    }

    [Fact]
    public void Should_pack_3_bit_codes_ten_to_a_word_leaving_the_top_two_bits_clear()
    {
        // u = 0 1 2 3 4 5 6 7 4 5 at bits 0, 3, ..., 27: 8 + 128 + 1536 + 16384 + 163840 + 1572864 + 14680064
        // + 67108864 + 671088640 = 754632328 = 0x2CFAC688.
        var packed = Int32Packing.PackRows([-4, -3, -2, -1, 0, 1, 2, 3, 0, 1], 1, 10, 3);

        Assert.Equal([0x2CFAC688], packed);
        Assert.Equal(754632328, packed[0]);
    }

    [Fact]
    public void Should_pack_2_bit_codes_sixteen_to_a_word_and_pad_the_last_word_with_zero()
    {
        // u = q + 2 = 0 1 2 3 | 3 2 1 0 | 2 2 2 2 | 0 0 3 3; two codes make a hex digit (low code in the low bits):
        // 4 E B 1 A A 0 F from the bottom → 0xF0AA1BE4. Columns 16 and 17 (u = 3, 0) start a second word: 0x3.
        sbyte[] codes = [-2, -1, 0, 1, 1, 0, -1, -2, 0, 0, 0, 0, -2, -2, 1, 1, 1, -2];

        var packed = Int32Packing.PackRows(codes, 1, 18, 2);

        Assert.Equal([unchecked((int)0xF0AA1BE4), 0x3], packed);
    }

    [Fact]
    public void Should_pack_asymmetric_zero_points_along_the_rows_padding_the_last_word()
    {
        // 10 rows × 2 groups, 4 bits. Group 0: zp = −8..1, u = 0..9: rows 0-7 give 0x76543210, rows 8-9 give 0x98.
        // Group 1: zp = 3 everywhere, u = 11 = 0xB: 0xBBBBBBBB, then 0xBB for the two rows left.
        var zeros = Enumerable.Range(0, 10).SelectMany(r => new[] { (sbyte)(r - 8), (sbyte)3 }).ToArray();

        var packed = Int32Packing.PackColumns(zeros, 10, 2, 4);

        Assert.Equal([0x76543210, unchecked((int)0xBBBBBBBB), 0x98, 0xBB], packed);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(8)]
    public void Should_unpack_what_it_packed_for_every_width_and_ragged_shapes(int bits)
    {
        var random = new Random(bits);
        var (rows, columns) = (7, 37);
        var values = Enumerable.Range(0, rows * columns).Select(_ => (sbyte)random.Next(-(1 << (bits - 1)), 1 << (bits - 1))).ToArray();

        Assert.Equal(values, Int32Packing.UnpackRows(Int32Packing.PackRows(values, rows, columns, bits), rows, columns, bits));
        Assert.Equal(values, Int32Packing.UnpackColumns(Int32Packing.PackColumns(values, rows, columns, bits), rows, columns, bits));
    }

    [Fact]
    public void Should_unpack_the_worked_example_from_its_words()
    {
        Assert.Equal(WorkedCodes, Int32Packing.UnpackRows([0x76543210, unchecked((int)0xFEDCBA98), 0x4DA0B78F, 0x66669999], 2, 16, 4));
    }

    [Theory]
    [InlineData(4, 8)]
    [InlineData(4, -9)]
    [InlineData(3, 4)]
    [InlineData(2, -3)]
    public void Should_refuse_a_code_outside_the_signed_range(int bits, int code)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Int32Packing.PackRows([0, (sbyte)code], 1, 2, bits));

        Assert.Contains("[0, 1]", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(4, 37, 7)]
    [InlineData(3, 37, 7)]
    [InlineData(8, 36, 8)]
    [InlineData(2, 37, 5)]
    public void Should_accept_packed_words_whose_padding_is_clear(int bits, int columns, int seed)
    {
        var random = new Random(seed);
        var codes = Enumerable.Range(0, 3 * columns).Select(_ => (sbyte)random.Next(-(1 << (bits - 1)), 1 << (bits - 1))).ToArray();

        Int32Packing.RequireClearPadding(Int32Packing.PackRows(codes, 3, columns, bits), 3, columns, bits);
    }

    [Theory]
    [InlineData(4, 37, 1, 4, 0x00100000)] // 37 columns: the last word holds 5 nibbles, bit 20 is padding
    [InlineData(3, 20, 0, 0, 0x40000000)] // 3-bit words use bits 0-29 only
    [InlineData(8, 37, 2, 9, 0x00000100)] // the last word holds one byte
    [InlineData(2, 18, 1, 1, 0x00000010)] // the last word holds 2 codes, bits 0-3
    public void Should_refuse_packed_words_with_a_bit_set_outside_the_codes(int bits, int columns, int row, int word, int stray)
    {
        var words = Int32Packing.PackRows(new sbyte[3 * columns], 3, columns, bits);
        words[(row * Int32Packing.CeilDiv(columns, Int32Packing.ValuesPerWord(bits))) + word] |= stray;

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Int32Packing.RequireClearPadding(words, 3, columns, bits));

        Assert.Contains($"word [{row}, {word}]", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(8)]
    public void Should_put_every_code_where_the_spec_says_for_every_width_up_to_three_words(int bits)
    {
        // FORMATS.md §3.3, word by word: Σ_i u[k·pf + i] << (b·i), u = q + 2^(b−1), the row padded with u = 0.
        var perWord = 32 / bits;
        var random = new Random(bits);
        for (var columns = 1; columns <= 3 * perWord; columns++)
        {
            var codes = Enumerable.Range(0, 2 * columns).Select(_ => (sbyte)random.Next(-(1 << (bits - 1)), 1 << (bits - 1))).ToArray();
            var words = (columns + perWord - 1) / perWord;
            var expected = new int[2 * words];
            for (var r = 0; r < 2; r++)
            {
                for (var c = 0; c < columns; c++)
                {
                    expected[(r * words) + (c / perWord)] |= (codes[(r * columns) + c] + (1 << (bits - 1))) << (bits * (c % perWord));
                }
            }

            Assert.Equal(expected, Int32Packing.PackRows(codes, 2, columns, bits));
        }
    }

    [Theory]
    [InlineData(4, 11, 8)]
    [InlineData(2, 17, 2)]
    [InlineData(4, 23, -9)]
    public void Should_name_the_column_of_a_code_out_of_range_inside_a_wide_row(int bits, int column, int code)
    {
        var codes = new sbyte[2 * 24];
        codes[24 + column] = unchecked((sbyte)code);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Int32Packing.PackRows(codes, 2, 24, bits));

        Assert.Contains($"[1, {column}]", e.Message, StringComparison.Ordinal);
    }
}
