using System.Text.Json;
using System.Text.Json.Nodes;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;
using MoeQuant.Model.Forward;

namespace MoeQuant.Model.Export;

/// <summary>
/// A compressed-tensors <c>pack-quantized</c> checkpoint folder opened for the forward pass or evaluation: the model
/// config (read without its quantization_config, which <see cref="DeepseekV3Config"/> reserves for FP8 input), the
/// quantization config, and weights that dequantize on read.
/// </summary>
public sealed class CompressedTensorsCheckpoint : IDisposable
{
    private CompressedTensorsCheckpoint(DeepseekV3Config config, CompressedTensorsConfig quantization, ShardedCheckpoint checkpoint)
    {
        Config = config;
        Quantization = quantization;
        Checkpoint = checkpoint;
        Weights = new CompressedTensorsWeightSource(checkpoint, quantization);
    }

    /// <summary>The model's architecture.</summary>
    public DeepseekV3Config Config { get; }

    /// <summary>The schemes and the ignore list.</summary>
    public CompressedTensorsConfig Quantization { get; }

    /// <summary>The shards as stored.</summary>
    public ShardedCheckpoint Checkpoint { get; }

    /// <summary>Every weight by its unquantized name, packed ones dequantized.</summary>
    public IWeightSource Weights { get; }

    /// <summary>Opens <paramref name="folder"/>.</summary>
    /// <exception cref="ConfigException">config.json is missing, invalid, or not compressed-tensors pack-quantized.</exception>
    /// <exception cref="CheckpointException">The shards are malformed.</exception>
    public static CompressedTensorsCheckpoint Open(string folder)
    {
        var configPath = Path.Combine(Path.GetFullPath(folder), "config.json");
        if (!File.Exists(configPath))
        {
            throw new ConfigException(configPath, null, "not found (a checkpoint folder must hold config.json)");
        }

        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject ?? throw new ConfigException(configPath, null, "must hold a JSON object");
        }
        catch (JsonException e)
        {
            throw new ConfigException(configPath, null, $"is not valid JSON: {e.Message}", e);
        }

        using var document = JsonDocument.Parse(json.ToJsonString());
        var quantization = CompressedTensorsConfig.Parse(document.RootElement, configPath);
        json.Remove("quantization_config");
        var config = DeepseekV3Config.Parse(json.ToJsonString(), configPath);
        return new CompressedTensorsCheckpoint(config, quantization, ShardedCheckpoint.Open(folder));
    }

    public void Dispose() => Checkpoint.Dispose();
}
