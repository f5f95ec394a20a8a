using MoeQuant.Kernels.Fp8;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Fp8;

public class Fp8BlockDequantizerTests
{
    // A 3 × 5 weight in 2 × 2 blocks: row blocks {0,1} {2}, column blocks {0,1} {2,3} {4}; every edge block is partial.
    private static readonly byte[,] Codes =
    {
        { 0x38, 0x40, 0x3C, 0xB8, 0x00 },   //  1     2     1.5   -1     0
        { 0x30, 0x44, 0x48, 0x28, 0x7E },   //  0.5   3     4      0.25  448
        { 0x80, 0x34, 0xC0, 0x01, 0x50 },   // -0     0.75 -2      2^-9  8
    };

    private static readonly float[,] Scales =
    {
        { 2f, 0.5f, 10f },
        { -1f, 4f, 0.125f },
    };

    // Worked by hand: code value × the scale of its block.
    private static readonly float[,] Expected =
    {
        { 2f, 4f, 0.75f, -0.5f, 0f },
        { 1f, 6f, 2f, 0.125f, 4480f },
        { 0f, -0.75f, -8f, 0.0078125f, 1f },
    };

    /// <summary>The public entry point (CPU kernel here) and both kernels called directly, all on the CPU.</summary>
    public static TheoryData<string> Kernels() => ["public", "cpu", "torch"];

    public static TheoryData<string, ScalarType> KernelsAndOutputs()
    {
        var data = new TheoryData<string, ScalarType>();
        foreach (var kernel in Kernels())
        {
            foreach (var output in new[] { ScalarType.Float32, ScalarType.BFloat16, ScalarType.Float16, ScalarType.Float64 })
            {
                data.Add(kernel, output);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(KernelsAndOutputs))]
    public void Should_scale_each_block_when_edge_blocks_are_partial(string kernel, ScalarType outputType)
    {
        using var weight = tensor(Codes);
        using var scale = tensor(Scales);
        using var result = Run(kernel, weight, scale, outputType, blockSize: 2);
        Assert.Equal(outputType, result.dtype);
        Assert.Equal(new long[] { 3, 5 }, result.shape);
        using var values = result.to(ScalarType.Float32);
        Assert.Equal(Expected.Cast<float>().ToArray(), values.data<float>().ToArray());
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Should_multiply_in_f32_and_round_once_when_output_is_bf16(string kernel)
    {
        // 1.5 × (1 + 2^-8 + 2^-20) = 1.50585..., whose nearest bf16 is 1.5078125. Rounding the scale to bf16 first
        // (1.0078125) would give 1.51171875, a tie that rounds to even: 1.515625.
        using var weight = tensor(new byte[,] { { 0x3C } });
        using var scale = tensor(new float[,] { { 1f + MathF.ScaleB(1, -8) + MathF.ScaleB(1, -20) } });
        using var result = Run(kernel, weight, scale, ScalarType.BFloat16, Fp8BlockDequantizer.DefaultBlockSize);
        Assert.Equal(1.5078125f, result.to(ScalarType.Float32).item<float>());
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Should_match_a_per_element_reference_when_the_weight_is_130_by_260(string kernel)
    {
        const int Rows = 130, Cols = 260;
        var random = new Random(7);
        var codes = new byte[Rows, Cols];
        for (var r = 0; r < Rows; r++)
        {
            for (var c = 0; c < Cols; c++)
            {
                codes[r, c] = (byte)random.Next(0, 256);
            }
        }

        var scales = new float[2, 3];
        for (var i = 0; i < scales.Length; i++)
        {
            scales[i / 3, i % 3] = (float)Math.Round((random.NextDouble() * 4) - 2, 3);
        }

        using var weight = tensor(codes);
        using var scale = tensor(scales);
        using var result = Run(kernel, weight, scale, ScalarType.Float32, Fp8BlockDequantizer.DefaultBlockSize);
        var actual = result.data<float>().ToArray();
        for (var r = 0; r < Rows; r++)
        {
            for (var c = 0; c < Cols; c++)
            {
                // f32 product of the test's own decoding; NaN codes stay NaN.
                var expected = Fp8E4M3Tests.Expected(codes[r, c]) * scales[r / 128, c / 128];
                Assert.Equal(expected, actual[(r * Cols) + c]);
            }
        }
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void Should_give_the_same_bits_from_both_kernels_when_every_code_is_scaled(ScalarType outputType)
    {
        // Every code against scales that push products into rounding, subnormal and overflow territory.
        using var weight = arange(256, ScalarType.Int32).to(ScalarType.Byte).repeat(3, 1);
        using var scale = tensor(new float[,] { { 1.0009765625f, 3.3f, 1e-5f, 300f } });
        using var cpu = Run("cpu", weight, scale, outputType, blockSize: 64);
        using var ops = Run("torch", weight, scale, outputType, blockSize: 64);
        using var cpuNaN = cpu.isnan();
        Assert.True(cpuNaN.Equals(ops.isnan()));
        Assert.True(cpu.nan_to_num().Equals(ops.nan_to_num()));
    }

    [Fact]
    public void Should_return_an_empty_tensor_when_the_weight_has_no_rows()
    {
        using var weight = zeros(0, 300, ScalarType.Byte);
        using var scale = zeros(0, 3, ScalarType.Float32);
        using var result = Fp8BlockDequantizer.Dequantize(weight, scale);
        Assert.Equal(new long[] { 0, 300 }, result.shape);
    }

    [Fact]
    public void Should_name_both_shapes_when_the_scale_shape_is_wrong()
    {
        using var weight = tensor(Codes);
        using var scale = zeros(1, 3, ScalarType.Float32);
        var error = Assert.Throws<ArgumentException>(() => Fp8BlockDequantizer.Dequantize(weight, scale, blockSize: 2));
        Assert.Contains("weight_scale_inv has shape [1, 3], expected [2, 3]", error.Message);
    }

    [Fact]
    public void Should_refuse_when_the_weight_is_not_uint8_codes()
    {
        using var weight = zeros(4, 4, ScalarType.Float32);
        using var scale = ones(1, 1, ScalarType.Float32);
        var error = Assert.Throws<ArgumentException>(() => Fp8BlockDequantizer.Dequantize(weight, scale));
        Assert.Contains("uint8", error.Message);
    }

    [Fact]
    public void Should_overwrite_the_given_tensor_when_dequantizing_into_it()
    {
        using var weight = tensor(Codes);
        using var scale = tensor(Scales);
        using var result = full(3, 5, float.NaN);
        Fp8BlockDequantizer.DequantizeInto(weight, scale, result, blockSize: 2);
        Assert.Equal(Expected.Cast<float>().ToArray(), result.data<float>().ToArray());
    }

    [Fact]
    public void Should_refuse_a_result_when_its_shape_differs_from_the_weight()
    {
        using var weight = tensor(Codes);
        using var scale = tensor(Scales);
        using var result = zeros(5, 3);
        var error = Assert.Throws<ArgumentException>(() => Fp8BlockDequantizer.DequantizeInto(weight, scale, result, blockSize: 2));
        Assert.Contains("[3, 5]", error.Message);
    }

    [Fact]
    public void Should_give_the_deepseek_scale_shape_when_rows_are_not_a_multiple_of_128() =>
        Assert.Equal(new long[] { 5, 56 }, Fp8BlockDequantizer.ScaleShape(576, 7168));

    private static Tensor Run(string kernel, Tensor weight, Tensor scale, ScalarType outputType, int blockSize)
    {
        if (kernel == "public")
        {
            return Fp8BlockDequantizer.Dequantize(weight, scale, outputType, blockSize);
        }

        var result = empty(weight.shape, outputType);
        if (kernel == "cpu")
        {
            Fp8CpuDequantizer.Dequantize(weight, scale, result, blockSize);
        }
        else
        {
            Fp8TorchDequantizer.Dequantize(weight, scale, result, blockSize);
        }

        return result;
    }
}
