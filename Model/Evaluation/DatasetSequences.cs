using MoeQuant.Model.Calibration;
using MoeQuant.Model.Tokenization;

namespace MoeQuant.Model.Evaluation;

/// <summary><c>--dataset-name-or-path</c> for eval: samples drawn and tokenized exactly as for calibration (MoE-Quant's rules).</summary>
public static class DatasetSequences
{
    /// <summary>Prepares the samples with the tokenizer of <paramref name="modelFolder"/> when it has one.</summary>
    /// <param name="options">Dataset, sample count, length cap and seed.</param>
    /// <param name="modelFolder">The checkpoint folder; without tokenizer.json only datasets of token-id arrays can be read.</param>
    /// <param name="vocabSize">The model's vocab_size: ids must be below it.</param>
    /// <param name="cancellation">Stops reading.</param>
    /// <exception cref="UserInputException">The dataset cannot be read, or gives an id outside the model's vocabulary.</exception>
    public static async Task<EvalSequences> PrepareAsync(CalibrationOptions options, string modelFolder, int vocabSize, CancellationToken cancellation)
    {
        var tokenizer = File.Exists(Path.Combine(modelFolder, "tokenizer.json")) ? HfTokenizer.Load(modelFolder) : null;
        var set = await CalibrationData.PrepareAsync(options, tokenizer, cancellation).ConfigureAwait(false);
        for (var i = 0; i < set.Samples.Count; i++)
        {
            // A tokenizer may hold fewer ids than the embedding, never more; datasets of raw ids are checked here only.
            var bad = Array.FindIndex(set.Samples[i], id => id >= vocabSize);
            if (bad >= 0)
            {
                throw new UserInputException($"{set.Source}: sample {i} has token id {set.Samples[i][bad]}, outside the model's vocabulary (0 to {vocabSize - 1})");
            }
        }

        return new EvalSequences(set.Samples, set.SkippedTooShort, set.Source, set.Warnings);
    }
}
