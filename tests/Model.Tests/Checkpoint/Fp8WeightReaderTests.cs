using MoeQuant.Model.Checkpoint;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Checkpoint;

public sealed class Fp8WeightReaderTests : IDisposable
{
    private const string Weight = "model.layers.3.self_attn.kv_a_proj_with_mqa.weight";
    private const string Scale = Weight + "_scale_inv";

    // A 3 × 5 FP8 weight in 2 × 2 blocks, so that the last row block and column block are partial:
    //  1    2    1.5  -1     0        scales  2   0.5  10
    //  0.5  3    4     0.25  448             -1   4    0.125
    // -0    0.75 -2    2^-9  8
    private static readonly byte[] Codes = [0x38, 0x40, 0x3C, 0xB8, 0x00, 0x30, 0x44, 0x48, 0x28, 0x7E, 0x80, 0x34, 0xC0, 0x01, 0x50];
    private static readonly float[,] Scales = { { 2f, 0.5f, 10f }, { -1f, 4f, 0.125f } };
    private static readonly float[] Expected = [2f, 4f, 0.75f, -0.5f, 0f, 1f, 6f, 2f, 0.125f, 4480f, 0f, -0.75f, -8f, 0.0078125f, 1f];

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Should_dequantize_with_its_scale_when_the_weight_is_fp8()
    {
        using var scale = tensor(Scales);
        Write(SafetensorsEntry.FromBytes(Weight, SafetensorsDtype.F8_E4M3, [3, 5], Codes), SafetensorsEntry.FromTensor(Scale, scale));
        using var checkpoint = ShardedCheckpoint.Open(_folder.Path);
        using var result = checkpoint.ReadDequantizedWeight(Weight, blockSize: 2);
        Assert.Equal(ScalarType.BFloat16, result.dtype);
        Assert.Equal(new long[] { 3, 5 }, result.shape);
        Assert.Equal(Expected, result.to(ScalarType.Float32).data<float>().ToArray());
    }

    [Fact]
    public void Should_only_convert_when_the_weight_is_not_fp8()
    {
        using var norm = tensor(new[] { 1.5f, -2f, 0.25f }).to(ScalarType.BFloat16);
        Write(SafetensorsEntry.FromTensor("model.norm.weight", norm));
        using var checkpoint = ShardedCheckpoint.Open(_folder.Path);
        using var result = checkpoint.ReadDequantizedWeight("model.norm.weight", ScalarType.Float32);
        Assert.Equal(new[] { 1.5f, -2f, 0.25f }, result.data<float>().ToArray());
    }

    [Fact]
    public void Should_name_file_weight_and_scale_when_the_scale_is_missing()
    {
        Write(SafetensorsEntry.FromBytes(Weight, SafetensorsDtype.F8_E4M3, [3, 5], Codes));
        using var checkpoint = ShardedCheckpoint.Open(_folder.Path);
        var error = Assert.Throws<CheckpointException>(() => checkpoint.ReadDequantizedWeight(Weight, blockSize: 2));
        Assert.Equal(CheckpointErrorKind.InvalidFp8Scale, error.Kind);
        Assert.StartsWith(_folder.File(ShardedCheckpoint.SingleFileName), error.Message);
        Assert.Contains($"tensor '{Weight}'", error.Message);
        Assert.Contains($"'{Scale}'", error.Message);
    }

    [Fact]
    public void Should_give_both_shapes_when_the_scale_has_the_wrong_shape()
    {
        using var scale = ones(1, 1);
        Write(SafetensorsEntry.FromBytes(Weight, SafetensorsDtype.F8_E4M3, [3, 5], Codes), SafetensorsEntry.FromTensor(Scale, scale));
        using var checkpoint = ShardedCheckpoint.Open(_folder.Path);
        var error = Assert.Throws<CheckpointException>(() => checkpoint.ReadDequantizedWeight(Weight, blockSize: 2));
        Assert.Equal(CheckpointErrorKind.InvalidFp8Scale, error.Kind);
        Assert.StartsWith(_folder.File(ShardedCheckpoint.SingleFileName), error.Message);
        Assert.Contains($"tensor '{Weight}'", error.Message);
        Assert.Contains("weight_scale_inv has shape [1, 1], expected [2, 3]", error.Message);
    }

    [Fact]
    public void Should_reject_when_the_scale_is_not_a_float_type()
    {
        using var scale = ones([2, 3], ScalarType.Int32);
        Write(SafetensorsEntry.FromBytes(Weight, SafetensorsDtype.F8_E4M3, [3, 5], Codes), SafetensorsEntry.FromTensor(Scale, scale));
        using var checkpoint = ShardedCheckpoint.Open(_folder.Path);
        var error = Assert.Throws<CheckpointException>(() => checkpoint.ReadDequantizedWeight(Weight, blockSize: 2));
        Assert.Equal(CheckpointErrorKind.InvalidFp8Scale, error.Kind);
        Assert.Contains("I32", error.Message);
    }

    private void Write(params SafetensorsEntry[] tensors) =>
        SafetensorsWriter.WriteFile(_folder.File(ShardedCheckpoint.SingleFileName), tensors);
}
