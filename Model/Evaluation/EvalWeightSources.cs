using System.Text.Json;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Export;
using MoeQuant.Model.Config;
using MoeQuant.Model.Forward;

namespace MoeQuant.Model.Evaluation;

/// <summary>Picks the weight reader for a checkpoint folder: FP8 or unquantized (original or fake-quantized) safetensors
/// through <see cref="CheckpointWeightSource"/>; packed compressed-tensors through <see cref="OpenPacked"/>.</summary>
public static class EvalWeightSources
{
    /// <summary>The <c>quantization_config.quant_method</c> of MoeQuant's packed export (FORMATS.md §3).</summary>
    public const string PackedQuantMethod = "compressed-tensors";

    /// <summary>Opens <paramref name="folder"/> and checks that it holds every tensor the forward pass reads, in the shape the
    /// config implies, so that a broken checkpoint fails before any compute rather than layers into a run.</summary>
    /// <exception cref="UserInputException">No such folder, a bad config.json, or a missing, corrupt or misshapen tensor.</exception>
    public static EvalModel Open(string folder)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        if (!Directory.Exists(full))
        {
            throw new UserInputException($"--model-name-or-path {full}: folder does not exist");
        }

        var configPath = Path.Combine(full, "config.json");
        // Before the config parser, which accepts only unquantized or FP8 configs.
        if (QuantMethod(configPath) == PackedQuantMethod)
        {
            return OpenPacked(full);
        }

        var config = DeepseekV3Config.Load(configPath);
        var checkpoint = ShardedCheckpoint.Open(full);
        try
        {
            CheckTensors(config, checkpoint);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }

        var kind = config.Fp8Quantization is null ? EvalCheckpointKind.Unquantized : EvalCheckpointKind.Fp8;
        return new EvalModel(full, config, new CheckpointWeightSource(checkpoint), kind, checkpoint);
    }

    /// <summary>A compressed-tensors checkpoint, each quantized weight unpacked (dequantized) as it is read.</summary>
    private static EvalModel OpenPacked(string folder)
    {
        var packed = CompressedTensorsCheckpoint.Open(folder);
        return new EvalModel(folder, packed.Config, packed.Weights, EvalCheckpointKind.Packed, packed);
    }

    /// <summary>quantization_config.quant_method, or null when absent or unreadable (the config parser then says what is wrong).</summary>
    private static string? QuantMethod(string configPath)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(configPath));
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("quantization_config", out var quantization)
                && quantization.ValueKind == JsonValueKind.Object
                && quantization.TryGetProperty("quant_method", out var method)
                && method.ValueKind == JsonValueKind.String
                    ? method.GetString()
                    : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Every tensor of the causal LM (MTP layers excepted), present and of the config's shape. FP8 scales are
    /// left to the FP8 reader, which checks them when it reads their weight.</summary>
    private static void CheckTensors(DeepseekV3Config config, ShardedCheckpoint checkpoint)
    {
        var needed = config.ExpectedTensors().Where(t => !t.Name.StartsWith("model.layers.", StringComparison.Ordinal))
            .Concat(Enumerable.Range(0, config.NumHiddenLayers).SelectMany(config.ExpectedLayerTensors))
            .Where(t => !t.IsFp8Scale);
        foreach (var expected in needed)
        {
            if (!checkpoint.TryGetHeader(expected.Name, out var found))
            {
                throw new CheckpointException(CheckpointErrorKind.TensorNotFound, checkpoint.Folder, expected.Name,
                    "missing from the checkpoint, and the forward pass needs it");
            }

            if (!found.Shape.SequenceEqual(expected.Shape))
            {
                throw new CheckpointException(CheckpointErrorKind.ShapeMismatch, found.File, expected.Name,
                    $"shape [{string.Join(", ", found.Shape)}], but config.json implies [{string.Join(", ", expected.Shape)}]");
            }
        }
    }
}
