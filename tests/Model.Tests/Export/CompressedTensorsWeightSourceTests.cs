using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;
using MoeQuant.Model.Export;
using static MoeQuant.Model.Tests.Export.PackedCheckpointFolder;
using static TorchSharp.torch;

namespace MoeQuant.Model.Tests.Export;

/// <summary>Reading pack-quantized weights back (FORMATS.md §3.1–3.5) from files written byte by byte in the test.</summary>
public sealed class CompressedTensorsWeightSourceTests
{
    private const string Module = "model.layers.0.self_attn.o_proj";

    // FORMATS.md §3.10: the codes packed 4-bit, and BF16 scales 0.25, 0.5 / 0.125, 1.0 (bits 0x3E80, 0x3F00, 0x3E00, 0x3F80).
    private static readonly SafetensorsEntry WorkedPacked = Int32s(Module + ".weight_packed", [2, 2], 0x76543210, unchecked((int)0xFEDCBA98), 0x4DA0B78F, 0x66669999);
    private static readonly SafetensorsEntry WorkedScale = Bf16(Module + ".weight_scale", [2, 2], 0x3E80, 0x3F00, 0x3E00, 0x3F80);
    private static readonly SafetensorsEntry WorkedShape = Int64s(Module + ".weight_shape", 2, 16);
    private static readonly QuantizationScheme Symmetric = new(4, 8, Symmetric: true, DynamicGroups: false);

    [Fact]
    public void Should_dequantize_the_worked_example_to_the_weights_of_the_spec()
    {
        using var folder = new PackedCheckpointFolder().Write(Symmetric, WorkedPacked, WorkedScale, WorkedShape);

        var weight = Read(folder, Module + ".weight");

        Assert.Equal(
            [
                -2.0f, -1.75f, -1.5f, -1.25f, -1.0f, -0.75f, -0.5f, -0.25f, 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f,
                0.875f, 0.0f, -0.125f, 0.375f, -1.0f, 0.25f, 0.625f, -0.5f, 1.0f, 1.0f, 1.0f, 1.0f, -2.0f, -2.0f, -2.0f, -2.0f,
            ],
            weight);
    }

    [Fact]
    public void Should_subtract_the_zero_points_packed_along_the_rows()
    {
        // zp = [[1, −2], [0, 3]]; one packed row (8 per word): group 0 u = 9 | 8 << 4 = 0x89, group 1 u = 6 | 11 << 4 = 0xB6.
        using var folder = new PackedCheckpointFolder().Write(
            Symmetric with { Symmetric = false },
            WorkedPacked, WorkedScale, WorkedShape, Int32s(Module + ".weight_zero_point", [1, 2], 0x89, 0xB6));

        var weight = Read(folder, Module + ".weight");

        // (q − zp) × scale: row 0 groups (−9..−2) × 0.25 and (2..9) × 0.5; row 1 group 0 as symmetric, group 1 (q − 3) × 1.
        Assert.Equal(
            [
                -2.25f, -2.0f, -1.75f, -1.5f, -1.25f, -1.0f, -0.75f, -0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 4.5f,
                0.875f, 0.0f, -0.125f, 0.375f, -1.0f, 0.25f, 0.625f, -0.5f, -2.0f, -2.0f, -2.0f, -2.0f, -5.0f, -5.0f, -5.0f, -5.0f,
            ],
            weight);
    }

    [Fact]
    public void Should_take_each_columns_group_from_weight_g_idx_under_group_actorder()
    {
        // Even columns in group 0, odd columns in group 1.
        using var folder = new PackedCheckpointFolder().Write(
            Symmetric with { DynamicGroups = true },
            WorkedPacked, WorkedScale, WorkedShape, Int32s(Module + ".weight_g_idx", [16], [.. Enumerable.Range(0, 16).Select(c => c % 2)]));

        var weight = Read(folder, Module + ".weight");

        Assert.Equal(
            [
                -2.0f, -3.5f, -1.5f, -2.5f, -1.0f, -1.5f, -0.5f, -0.5f, 0.0f, 0.5f, 0.5f, 1.5f, 1.0f, 2.5f, 1.5f, 3.5f,
                0.875f, 0.0f, -0.125f, 3.0f, -1.0f, 2.0f, 0.625f, -4.0f, 0.125f, 1.0f, 0.125f, 1.0f, -0.25f, -2.0f, -0.25f, -2.0f,
            ],
            weight);
    }

    [Fact]
    public void Should_read_unpacked_tensors_as_stored()
    {
        using var folder = new PackedCheckpointFolder().Write(Symmetric, WorkedPacked, WorkedScale, WorkedShape, Bf16("model.norm.weight", [2], 0x3F80, 0xC000));

        Assert.Equal([1.0f, -2.0f], Read(folder, "model.norm.weight"));
    }

    [Theory]
    [InlineData("weight_scale", "has no weight_scale beside it")]
    [InlineData("weight_shape", "has no weight_shape beside it")]
    public void Should_name_a_missing_companion_tensor(string missing, string message)
    {
        using var folder = new PackedCheckpointFolder().Write(Symmetric, [.. new[] { WorkedPacked, WorkedScale, WorkedShape }.Where(t => !t.Name.EndsWith(missing, StringComparison.Ordinal))]);

        var e = Assert.Throws<CheckpointException>(() => Read(folder, Module + ".weight"));

        Assert.Equal((CheckpointErrorKind.InvalidQuantization, Module + ".weight_packed"), (e.Kind, e.Tensor));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_name_a_missing_zero_point_of_an_asymmetric_scheme()
    {
        using var folder = new PackedCheckpointFolder().Write(Symmetric with { Symmetric = false }, WorkedPacked, WorkedScale, WorkedShape);

        Assert.Contains("has no weight_zero_point", Assert.Throws<CheckpointException>(() => Read(folder, Module + ".weight")).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(3, 16, "weight_packed", "is I32 [2, 2]; expected [3, 2]")]
    [InlineData(2, 24, "weight_packed", "is I32 [2, 2]; expected [2, 3]")]
    public void Should_refuse_a_packed_shape_that_disagrees_with_weight_shape(long rows, long columns, string tensor, string message)
    {
        using var folder = new PackedCheckpointFolder().Write(Symmetric, WorkedPacked, WorkedScale, Int64s(Module + ".weight_shape", rows, columns));

        var e = Assert.Throws<CheckpointException>(() => Read(folder, Module + ".weight"));

        Assert.Equal(Module + "." + tensor, e.Tensor);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_scales_of_another_group_count()
    {
        using var folder = new PackedCheckpointFolder().Write(Symmetric with { GroupSize = 4 }, WorkedPacked, WorkedScale, WorkedShape);

        var e = Assert.Throws<CheckpointException>(() => Read(folder, Module + ".weight"));

        Assert.Equal(Module + ".weight_scale", e.Tensor);
        Assert.Contains("expected [2, 4] for 4 group(s) per row", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_a_g_idx_outside_the_groups()
    {
        using var folder = new PackedCheckpointFolder().Write(
            Symmetric with { DynamicGroups = true }, WorkedPacked, WorkedScale, WorkedShape, Int32s(Module + ".weight_g_idx", [16], [.. Enumerable.Range(0, 16).Select(c => c == 9 ? 2 : 0)]));

        Assert.Contains("puts column 9 in group 2, outside the 2 group(s)", Assert.Throws<CheckpointException>(() => Read(folder, Module + ".weight")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_report_a_tensor_that_is_neither_stored_nor_packed()
    {
        using var folder = new PackedCheckpointFolder().Write(Symmetric, WorkedPacked, WorkedScale, WorkedShape);

        Assert.Equal(CheckpointErrorKind.TensorNotFound, Assert.Throws<CheckpointException>(() => Read(folder, "model.layers.0.self_attn.q_a_proj.weight")).Kind);
    }

    [Fact]
    public void Should_refuse_to_open_a_checkpoint_without_a_compressed_tensors_config()
    {
        using var plain = new PackedCheckpointFolder().Write((System.Text.Json.Nodes.JsonObject?)null, WorkedPacked);
        using var naive = new PackedCheckpointFolder().Write(
            new System.Text.Json.Nodes.JsonObject { ["quant_method"] = "compressed-tensors", ["format"] = "naive-quantized" }, WorkedPacked);

        Assert.Equal("quantization_config", Assert.Throws<ConfigException>(() => CompressedTensorsCheckpoint.Open(plain.Path)).Field);
        Assert.Equal("quantization_config.format", Assert.Throws<ConfigException>(() => CompressedTensorsCheckpoint.Open(naive.Path)).Field);
    }

    private static float[] Read(PackedCheckpointFolder folder, string name)
    {
        using var checkpoint = CompressedTensorsCheckpoint.Open(folder.Path);
        using var weight = checkpoint.Weights.Read(name, ScalarType.Float32, CPU);
        return weight.data<float>().ToArray();
    }
}
