using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Synthetic;

namespace MoeQuant.Model.TinyModel;

/// <summary>
/// The generated tiny DeepSeek-V3-architecture checkpoint (<see cref="TinyModelConfig"/>), written on first use to the
/// user's cache folder by <see cref="SyntheticCheckpoint"/>: FP8 E4M3 weights with 128×128 <c>weight_scale_inv</c>
/// blocks as the real checkpoints have, BF16 norms and embeddings, from a fixed seed, so every machine gets the same
/// bytes without a download.
/// </summary>
public static class TinyCheckpoint
{
    private const int Seed = 20261125;

    /// <summary>Default location: $XDG_CACHE_HOME (or ~/.cache)/moequant/tiny-deepseek-v3-synthetic (the name changed with
    /// the values, so that a cache of the earlier generator is not mistaken for this one).</summary>
    public static string DefaultFolder => Path.Combine(
        Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } cache
            ? cache
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"),
        "moequant", "tiny-deepseek-v3-synthetic");

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

        // One file (no shard limit), no generation config: the built-in tiny layout tests rely on.
        SyntheticCheckpoint.Write(folder, TinyModelConfig.Json, new SyntheticCheckpointOptions
        {
            Seed = Seed,
            MaxShardBytes = long.MaxValue,
            GenerationConfig = false,
            Overwrite = true,
        });
        return folder;
    }
}
