using MoeQuant.Kernels.Fp8;
using TorchSharp;

namespace MoeQuant.Kernels.Tests.Fp8;

public class Fp8E4M3Tests
{
    /// <summary>
    /// The test's own decoder: it assembles the IEEE-754 f32 bit pattern directly (normal codes) or scales the mantissa
    /// by 2^-9 (subnormal codes), a different route from the table the production code builds.
    /// </summary>
    internal static float Expected(int code)
    {
        var sign = code >> 7;
        var exponent = (code >> 3) & 0xF;
        var mantissa = code & 0x7;
        if (exponent == 15 && mantissa == 7)
        {
            return float.NaN;
        }

        if (exponent == 0)
        {
            // 2^-6 × m/8 = m × 2^-9, exact in f32.
            var magnitude = mantissa * 0.001953125f;
            return sign == 1 ? -magnitude : magnitude;
        }

        var bits = (sign << 31) | ((exponent - 7 + 127) << 23) | (mantissa << 20);
        return BitConverter.Int32BitsToSingle(bits);
    }

    [Fact]
    public void Should_decode_every_code_as_its_bit_layout_when_all_256_are_checked()
    {
        for (var code = 0; code < 256; code++)
        {
            var expected = Expected(code);
            var actual = Fp8E4M3.Decode((byte)code);
            // Compare bit patterns, so -0 vs +0 counts; NaN payloads may differ.
            if (float.IsNaN(expected))
            {
                Assert.True(float.IsNaN(actual), $"code 0x{code:X2}");
            }
            else
            {
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual),
                    $"code 0x{code:X2}: expected {expected}, got {actual}");
            }
        }
    }

    [Theory]
    [InlineData(0x38, 1.0f)]
    [InlineData(0x3C, 1.5f)]
    [InlineData(0x40, 2.0f)]
    [InlineData(0x08, 0.015625f)]
    [InlineData(0x01, 0.001953125f)]
    [InlineData(0x07, 0.013671875f)]
    [InlineData(0x7E, 448f)]
    [InlineData(0xFE, -448f)]
    public void Should_match_the_spec_check_values_when_decoding_known_codes(int code, float value) =>
        Assert.Equal(value, Fp8E4M3.Decode((byte)code));

    [Fact]
    public void Should_decode_nan_and_signed_zeros_when_codes_are_special()
    {
        Assert.True(float.IsNaN(Fp8E4M3.Decode(0x7F)));
        Assert.True(float.IsNaN(Fp8E4M3.Decode(0xFF)));
        Assert.True(float.IsPositive(Fp8E4M3.Decode(0x00)) && Fp8E4M3.Decode(0x00) == 0f);
        Assert.True(float.IsNegative(Fp8E4M3.Decode(0x80)) && Fp8E4M3.Decode(0x80) == 0f);
        Assert.Equal(Fp8E4M3.MaxFinite, Enumerable.Range(0, 256).Select(c => Fp8E4M3.Decode((byte)c)).Where(float.IsFinite).Max());
    }

    [Fact]
    public void Should_hold_the_table_values_when_made_a_tensor()
    {
        using var table = Fp8E4M3.TableTensor(torch.CPU);
        Assert.Equal(new long[] { 256 }, table.shape);
        Assert.Equal(torch.ScalarType.Float32, table.dtype);
        Assert.Equal(Fp8E4M3.Table.ToArray(), table.data<float>().ToArray());
    }
}
