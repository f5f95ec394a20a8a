using System.Text.Json.Nodes;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Export;
using MoeQuant.Model.Quantized;
using MoeQuant.Model.TinyModel;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Tests.Packing;

/// <summary>Checks of an exported checkpoint against the run's state files and the original tiny checkpoint.</summary>
internal static class ExportAssertions
{
    public const int TinyMainLayers = 4;

    /// <summary>Every linear of the run's state files.</summary>
    public static List<QuantizedLinear> StateLinears(string saveDir) =>
        [.. Directory.EnumerateFiles(Path.Combine(saveDir, "layers"), "*.safetensors", SearchOption.AllDirectories).Order(StringComparer.Ordinal).SelectMany(UnitStateFile.Read)];

    /// <summary>Each quantized linear read back through the packed-checkpoint reader equals the state's
    /// <see cref="QuantizedLinear.Dequantize"/> bit for bit; returns how many there were.</summary>
    public static int AssertQuantizedWeightsExact(string exportDir, string saveDir)
    {
        using var export = CompressedTensorsCheckpoint.Open(exportDir);
        var linears = StateLinears(saveDir);
        try
        {
            Assert.NotEmpty(linears);
            foreach (var linear in linears)
            {
                Assert.True(export.Checkpoint.Contains(linear.Name + ".weight_packed"), $"{linear.Name} is not stored packed");
                using var expected = linear.Dequantize();
                using var actual = export.Weights.Read(linear.Name + ".weight", linear.Scales.dtype, CPU);
                Assert.True(Same(expected, actual), $"{linear.Name}: the packed weight reads back differently");
            }

            return linears.Count;
        }
        finally
        {
            linears.ForEach(l => l.Dispose());
        }
    }

    /// <summary>
    /// The export holds exactly: every original tensor of the main layers (and of the MTP layer when kept) except FP8
    /// scales, with quantized weights replaced by <paramref name="quantizedSuffixes"/>; every unquantized tensor equals
    /// the original, FP8 ones dequantized to BF16.
    /// </summary>
    public static void AssertTensors(string exportDir, IReadOnlySet<string> quantized, bool keepMtp, params string[] quantizedSuffixes)
    {
        using var original = ShardedCheckpoint.Open(TinyCheckpoint.EnsureWritten());
        using var export = ShardedCheckpoint.Open(exportDir);
        var expected = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var tensor in original.Tensors)
        {
            var module = tensor.Name[..tensor.Name.LastIndexOf('.')];
            if ((!keepMtp && tensor.Name.StartsWith($"model.layers.{TinyMainLayers}.", StringComparison.Ordinal)) || tensor.Name.EndsWith("weight_scale_inv", StringComparison.Ordinal))
            {
                continue;
            }

            if (quantized.Contains(module))
            {
                expected.UnionWith(quantizedSuffixes.Select(s => module + s));
                continue;
            }

            expected.Add(tensor.Name);
            var stored = export.GetHeader(tensor.Name);
            if (tensor.Dtype == SafetensorsDtype.F8_E4M3)
            {
                Assert.Equal(SafetensorsDtype.BF16, stored.Dtype);
                using var want = original.ReadDequantizedWeight(tensor.Name, ScalarType.BFloat16);
                using var got = export.ReadTensor(tensor.Name);
                Assert.True(Same(want, got), $"{tensor.Name} differs from the original dequantized to bf16");
            }
            else
            {
                Assert.Equal(tensor.Dtype, stored.Dtype);
                Assert.True(original.GetBytes(tensor.Name).SequenceEqual(export.GetBytes(tensor.Name)), $"{tensor.Name} differs from the original");
            }
        }

        Assert.Equal(expected, new SortedSet<string>(export.Tensors.Select(t => t.Name), StringComparer.Ordinal));
    }

    public static JsonObject Json(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    public static string[] Strings(JsonNode? array) => [.. array!.AsArray().Select(n => (string)n!)];

    public static bool Same(Tensor expected, Tensor actual) =>
        expected.shape.SequenceEqual(actual.shape) && expected.dtype == actual.dtype && expected.eq(actual).all().item<bool>();
}
