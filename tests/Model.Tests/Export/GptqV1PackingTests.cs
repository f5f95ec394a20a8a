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
        var qweight = GptqV1Packing.PackQWeight(codes, 2, 16, 4);

        Assert.Equal([0x76543210, 0x4DA0B78F, unchecked((int)0xFEDCBA98), 0x66669999], qweight);
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
        Assert.Throws<ArgumentException>(() => GptqV1Packing.PackQWeight(new sbyte[outFeatures * inFeatures], outFeatures, inFeatures, bits));
        Assert.Throws<ArgumentException>(() => GptqV1Packing.PackQZeros(new sbyte[outFeatures], outFeatures, 1, bits));
    }

    [Fact]
    public void Should_refuse_3_bit_packing()
    {
        var e = Assert.Throws<ArgumentException>(() => GptqV1Packing.PackQWeight(new sbyte[32], 1, 32, 3));

        Assert.Contains("2, 4, 8", e.Message, StringComparison.Ordinal);
    }
}
