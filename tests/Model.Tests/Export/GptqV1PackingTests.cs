using MoeQuant.Model.Export;

namespace MoeQuant.Model.Tests.Export;

/// <summary>GPTQ v1's qweight and qzeros (FORMATS.md §4.1), pinned by words worked out by hand.</summary>
public sealed class GptqV1PackingTests
{
    [Fact]
    public void Should_pack_qweight_as_the_transpose_of_the_worked_compressed_tensors_words()
    {
        sbyte[] codes =
        [
            -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7,
            7, 0, -1, 3, -8, 2, 5, -4, 1, 1, 1, 1, -2, -2, -2, -2,
        ];

        // [in / 8, out]: word k of output row c sits at [k][c] (FORMATS.md §4.1's example).
        var qweight = GptqV1Packing.QWeight(Int32Packing.PackRows(codes, 2, 16, 4), 2, 16, 4);

        Assert.Equal([0x76543210, 0x4DA0B78F, unchecked((int)0xFEDCBA98), 0x66669999], qweight);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void Should_hold_in_qweight_each_code_where_the_v1_formula_puts_it(int bits)
    {
        // FORMATS.md §4.1: u[c][j] = (qweight[j / pf][c] >> b·(j % pf)) & mask, with u = code + 2^(b−1).
        var (rows, columns, perWord) = (3, 64, 32 / bits);
        var random = new Random(bits);
        var codes = Enumerable.Range(0, rows * columns).Select(_ => (sbyte)random.Next(-(1 << (bits - 1)), 1 << (bits - 1))).ToArray();

        var qweight = GptqV1Packing.QWeight(Int32Packing.PackRows(codes, rows, columns, bits), rows, columns, bits);

        Assert.Equal(columns / perWord * rows, qweight.Length);
        for (var c = 0; c < rows; c++)
        {
            for (var j = 0; j < columns; j++)
            {
                var u = (int)(((uint)qweight[((j / perWord) * rows) + c] >> (bits * (j % perWord))) & ((1u << bits) - 1));
                Assert.Equal(codes[(c * columns) + j], u - (1 << (bits - 1)));
            }
        }
    }

    [Fact]
    public void Should_store_symmetric_zeros_as_zero_minus_one_in_every_lane()
    {
        // The unsigned zero of a symmetric grid is 2^(b−1); stored − 1: 7 per nibble, 127 per byte.
        Assert.Equal([0x77777777, 0x77777777], GptqV1Packing.PackQZeros(new sbyte[8 * 2], 8, 2, 4));
        Assert.Equal([0x7F7F7F7F], GptqV1Packing.PackQZeros(new sbyte[4], 4, 1, 8));
        Assert.Equal(2004318071, GptqV1Packing.PackQZeros(new sbyte[8], 8, 1, 4)[0]);
    }

    [Fact]
    public void Should_pack_asymmetric_zeros_along_the_output_rows()
    {
        // 8 rows, 1 group, 4 bits: zp = −7..0 → unsigned z = 1..8 → stored z − 1 = 0..7 → 0x76543210.
        // 2 groups of 16 rows at 2 bits: group 0 zp = −1 → z = 1 → 0; group 1 zp = 1 → z = 3 → 2 in every lane: 0xAAAAAAAA.
        sbyte[] zp4 = [-7, -6, -5, -4, -3, -2, -1, 0];
        var zp2 = Enumerable.Range(0, 16).SelectMany(_ => new sbyte[] { -1, 1 }).ToArray();

        Assert.Equal([0x76543210], GptqV1Packing.PackQZeros(zp4, 8, 1, 4));
        Assert.Equal([0, unchecked((int)0xAAAAAAAA)], GptqV1Packing.PackQZeros(zp2, 16, 2, 2));
    }

    [Fact]
    public void Should_refuse_a_zero_point_whose_unsigned_value_is_zero()
    {
        var zeros = new sbyte[8];
        zeros[5] = -8;

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => GptqV1Packing.PackQZeros(zeros, 8, 1, 4));

        Assert.Contains("[5, 0]", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(4, 12, 12)]
    [InlineData(8, 6, 6)]
    public void Should_refuse_widths_that_do_not_fill_whole_words(int bits, int outFeatures, int inFeatures)
    {
        Assert.Throws<ArgumentException>(() => GptqV1Packing.QWeight(new int[outFeatures * inFeatures], outFeatures, inFeatures, bits));
        Assert.Throws<ArgumentException>(() => GptqV1Packing.PackQZeros(new sbyte[outFeatures], outFeatures, 1, bits));
    }

    [Fact]
    public void Should_refuse_3_bit_packing()
    {
        var e = Assert.Throws<ArgumentException>(() => GptqV1Packing.QWeight(new int[4], 1, 32, 3));

        Assert.Contains("2, 4, 8", e.Message, StringComparison.Ordinal);
    }
}
