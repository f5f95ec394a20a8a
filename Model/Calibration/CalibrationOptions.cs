namespace MoeQuant.Model.Calibration;

/// <summary>What calibration data to prepare, with MoE-Quant's flags and defaults.</summary>
/// <param name="DatasetNameOrPath"><c>open-thoughts</c>, <c>open-platypus</c>, <c>fineweb-edu</c>, a folder in HF dataset
/// layout, or a <c>.jsonl</c>, <c>.parquet</c> or <c>.txt</c> file.</param>
/// <param name="NumCalibrationSamples">How many sequences to draw.</param>
/// <param name="MaxSequenceLength">Sequences are cut to this many tokens (special tokens included), as HF truncation does.</param>
/// <param name="Seed">Seeds the sampling; MoE-Quant passes 0.</param>
public sealed record CalibrationOptions(string DatasetNameOrPath, int NumCalibrationSamples = 128, int MaxSequenceLength = 8192, int Seed = 0)
{
    /// <summary>
    /// Folders searched for a dataset given by name: each may hold a folder named after it (<c>open-thoughts/</c>) or an HF hub
    /// cache entry (<c>datasets--open-thoughts--OpenThoughts-114k/snapshots/…</c>). Defaults to the HF hub cache.
    /// </summary>
    public IReadOnlyList<string> DatasetRoots { get; init; } = [DefaultHubCache()];

    private static string DefaultHubCache()
    {
        var hubCache = Environment.GetEnvironmentVariable("HF_HUB_CACHE");
        if (!string.IsNullOrEmpty(hubCache))
        {
            return hubCache;
        }

        var home = Environment.GetEnvironmentVariable("HF_HOME");
        return string.IsNullOrEmpty(home)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "huggingface", "hub")
            : Path.Combine(home, "hub");
    }
}
