using MoeQuant.Model.Calibration;

namespace MoeQuant.Model.TinyModel;

/// <summary>
/// MoeQuant's built-in model: a small DeepSeek-V3-architecture model trained on the King James Bible
/// (<c>assets/tiny-deepseek-v3</c>, made by <c>tools/fixtures/train_tiny_model.py</c>), shipped next to the binary as
/// an FP8 block-scaled checkpoint with its tokenizer, calibration text and held-out token ids. It is what
/// <c>moequant quantize</c> and <c>moequant eval</c> use when no model is named.
/// </summary>
public static class BuiltInModel
{
    /// <summary>The model's name, as in the default save_dir.</summary>
    public const string Name = "tiny-deepseek-v3";

    /// <summary>The FP8 checkpoint folder (config, weights, tokenizer).</summary>
    public static string Folder => Existing(Path.Combine(Root, "model-fp8"));

    /// <summary>Calibration text: one chapter per paragraph, disjoint from the training and held-out text.</summary>
    public static string CalibrationText => Existing(Path.Combine(Root, "calibration.txt"));

    /// <summary>How many samples <see cref="CalibrationText"/> holds, counted as the calibration reader splits it.</summary>
    public static int CalibrationSamples => (int)RowReader.CountAsync(CalibrationText, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Held-out sequences as token ids, one JSON array per line (the protocol is in metrics.json).</summary>
    public static string HeldOutIds => Existing(Path.Combine(Root, "heldout_ids.jsonl"));

    /// <summary>The training run's record, including the held-out perplexity transformers measured.</summary>
    public static string Metrics => Existing(Path.Combine(Root, "metrics.json"));

    private static string Root => Path.Combine(AppContext.BaseDirectory, "builtin", Name);

    private static string Existing(string path) => File.Exists(path) || Directory.Exists(path)
        ? path
        : throw new UserInputException($"the built-in model's file {path} is missing: this installation is incomplete (rebuild or republish MoeQuant)");
}
