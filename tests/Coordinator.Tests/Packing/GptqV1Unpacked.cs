using System.Runtime.InteropServices;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Quantized;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Tests.Packing;

/// <summary>GPTQ v1 unpacking written from FORMATS.md §4.1 alone, independent of the exporter's packing code:
/// <c>u[c][j] = (qweight[j / pf][c] &gt;&gt; b·(j % pf)) &amp; mask</c>, <c>z[g][c] = ((qzeros[g][c / pf] &gt;&gt; b·(c % pf)) &amp; mask) + 1</c>,
/// <c>W[c][j] = scales[g][c] × (u[c][j] − z[g][c])</c> with <c>g = g_idx[j]</c>.</summary>
internal static class GptqV1Unpacked
{
    public static void AssertMatches(ShardedCheckpoint export, QuantizedLinear linear, int bits)
    {
        var (rows, columns, groups) = ((int)linear.OutFeatures, (int)linear.InFeatures, (int)linear.Scales.shape[1]);
        var (perWord, mask, offset) = (32 / bits, (1u << bits) - 1, 1 << (bits - 1));
        Assert.Equal(new long[] { columns / perWord, rows }, export.GetHeader(linear.Name + ".qweight").Shape);
        Assert.Equal(new long[] { groups, rows / perWord }, export.GetHeader(linear.Name + ".qzeros").Shape);
        Assert.Equal(SafetensorsDtype.F16, export.GetHeader(linear.Name + ".scales").Dtype);
        var qweight = Ints(export, linear.Name + ".qweight");
        var qzeros = Ints(export, linear.Name + ".qzeros");
        var gIdx = Ints(export, linear.Name + ".g_idx");
        using var scaleTensor = export.ReadTensor(linear.Name + ".scales").to_type(ScalarType.Float32);
        var scales = scaleTensor.data<float>().ToArray();
        var codes = linear.Codes.data<sbyte>().ToArray();
        var zeroPoints = linear.ZeroPoints.data<sbyte>().ToArray();
        Assert.Equal(linear.GIdx.data<int>().ToArray(), gIdx);

        var weight = new float[rows * columns];
        var wrongCodes = 0;
        var wrongZeros = 0;
        for (var c = 0; c < rows; c++)
        {
            for (var j = 0; j < columns; j++)
            {
                var u = (int)(((uint)qweight[((j / perWord) * rows) + c] >> (bits * (j % perWord))) & mask);
                var g = gIdx[j];
                var z = (int)(((uint)qzeros[(g * (rows / perWord)) + (c / perWord)] >> (bits * (c % perWord))) & mask) + 1;
                wrongCodes += u - offset == codes[(c * columns) + j] ? 0 : 1;
                wrongZeros += z - offset == zeroPoints[(c * groups) + g] ? 0 : 1;
                weight[(c * columns) + j] = scales[(g * rows) + c] * (u - z);
            }
        }

        Assert.True((wrongCodes, wrongZeros) == (0, 0), $"{linear.Name}: {wrongCodes} codes and {wrongZeros} zero points differ from the state");
        using var expected = linear.Dequantize();
        using var actual = tensor(weight, [rows, columns]).to_type(linear.Scales.dtype);
        Assert.True(ExportAssertions.Same(expected, actual), $"{linear.Name}: the v1 weight differs from the state's");
    }

    private static int[] Ints(ShardedCheckpoint checkpoint, string name) => MemoryMarshal.Cast<byte, int>(checkpoint.GetBytes(name)).ToArray();
}
