using System.Text.Json.Nodes;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Export;
using MoeQuant.Model.TinyModel;
using MoeQuant.Model.Tests.Checkpoint;

namespace MoeQuant.Model.Tests.Export;

/// <summary>A hand-made pack-quantized checkpoint: the tiny model's config with a compressed-tensors
/// quantization_config, and whatever tensors a test lists, with bytes the test spells out.</summary>
internal sealed class PackedCheckpointFolder : IDisposable
{
    private readonly TempFolder _folder = new();

    public string Path => _folder.Path;

    public static SafetensorsEntry Int32s(string name, long[] shape, params int[] values) =>
        SafetensorsEntry.FromBytes(name, SafetensorsDtype.I32, [.. shape], values.SelectMany(BitConverter.GetBytes).ToArray());

    public static SafetensorsEntry Int64s(string name, params long[] values) =>
        SafetensorsEntry.FromBytes(name, SafetensorsDtype.I64, [values.Length], values.SelectMany(BitConverter.GetBytes).ToArray());

    /// <summary>BF16 values given by their bit patterns (upper half of the float32).</summary>
    public static SafetensorsEntry Bf16(string name, long[] shape, params ushort[] bits) =>
        SafetensorsEntry.FromBytes(name, SafetensorsDtype.BF16, [.. shape], bits.SelectMany(BitConverter.GetBytes).ToArray());

    public PackedCheckpointFolder Write(QuantizationScheme scheme, params SafetensorsEntry[] tensors) =>
        Write(CompressedTensorsConfig.For(scheme, ["lm_head"]).ToJson(), tensors);

    public PackedCheckpointFolder Write(JsonObject? quantizationConfig, params SafetensorsEntry[] tensors)
    {
        var config = JsonNode.Parse(TinyModelConfig.Json)!.AsObject();
        config.Remove("quantization_config");
        if (quantizationConfig is not null)
        {
            config["quantization_config"] = quantizationConfig;
        }

        File.WriteAllText(_folder.File("config.json"), config.ToJsonString());
        SafetensorsWriter.WriteFile(_folder.File(ShardedCheckpoint.SingleFileName), tensors);
        return this;
    }

    public void Dispose() => _folder.Dispose();
}
