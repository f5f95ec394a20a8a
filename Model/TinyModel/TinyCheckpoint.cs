using System.Collections.Immutable;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Config;

namespace MoeQuant.Model.TinyModel;

/// <summary>
/// The built-in tiny DeepSeek-V3-architecture checkpoint, written on first use to the user's cache folder: FP8 E4M3
/// weights with 128×128 <c>weight_scale_inv</c> blocks as the real checkpoints have, BF16 norms and embeddings, from a
/// fixed seed, so every machine gets the same bytes without a download.
/// </summary>
public static class TinyCheckpoint
{
    private const int Seed = 20261125;

    /// <summary>Default location: $XDG_CACHE_HOME (or ~/.cache)/moequant/tiny-deepseek-v3.</summary>
    public static string DefaultFolder => Path.Combine(
        Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } cache
            ? cache
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"),
        "moequant", "tiny-deepseek-v3");

    /// <summary>Writes config.json and model.safetensors into <paramref name="folder"/> unless both exist; returns the folder.</summary>
    public static string EnsureWritten(string? folder = null)
    {
        folder ??= DefaultFolder;
        var config = Path.Combine(folder, "config.json");
        var weights = Path.Combine(folder, ShardedCheckpoint.SingleFileName);
        if (File.Exists(config) && File.Exists(weights))
        {
            return folder;
        }

        Directory.CreateDirectory(folder);
        var random = new Random(Seed);
        var entries = TinyModelConfig.Load().ExpectedTensors()
            .Select(t => SafetensorsEntry.FromBytes(t.Name, t.Dtype, t.Shape, Values(t, random)))
            .ToList();
        // Weights first, config last: a folder with a config.json is a complete checkpoint (both files are atomic).
        SafetensorsWriter.WriteFile(weights, entries);
        var temp = config + ".tmp";
        File.WriteAllText(temp, TinyModelConfig.Json);
        File.Move(temp, config, overwrite: true);
        return folder;
    }

    private static byte[] Values(ExpectedTensor tensor, Random random)
    {
        var count = checked((int)tensor.Shape.Aggregate(1L, (n, d) => n * d));
        var bytes = new byte[count * tensor.Dtype.ElementSize()];
        switch (tensor.Dtype)
        {
            case SafetensorsDtype.F8_E4M3:
                // Codes of magnitude 2^-4..2^3 (exponent field 3..10), never the NaN codes 0x7F/0xFF.
                for (var i = 0; i < count; i++)
                {
                    bytes[i] = (byte)((random.Next(2) << 7) | (random.Next(3, 11) << 3) | random.Next(8));
                }

                break;
            case SafetensorsDtype.F32:
                // weight_scale_inv and the router's correction bias: small positive values.
                var floats = Enumerable.Range(0, count).Select(_ => (float)(0.002 + random.NextDouble() * 0.004)).ToArray();
                Buffer.BlockCopy(floats, 0, bytes, 0, bytes.Length);
                break;
            case SafetensorsDtype.BF16:
                // Norm weights near 1, embeddings and router weights near 0.02 (top 16 bits of the float).
                var norm = tensor.Name.EndsWith("norm.weight", StringComparison.Ordinal);
                for (var i = 0; i < count; i++)
                {
                    var value = norm ? 1f + (float)((random.NextDouble() - 0.5) * 0.2) : (float)((random.NextDouble() - 0.5) * 0.04);
                    var bits = BitConverter.SingleToUInt32Bits(value) >> 16;
                    bytes[2 * i] = (byte)bits;
                    bytes[(2 * i) + 1] = (byte)(bits >> 8);
                }

                break;
            default:
                throw new InvalidOperationException($"the tiny model has no {tensor.Dtype} tensor ({tensor.Name})");
        }

        return bytes;
    }
}
