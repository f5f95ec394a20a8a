namespace MoeQuant.Model.Evaluation;

/// <summary>The token-id sequences an evaluation runs on.</summary>
/// <param name="Sequences">Each 2 or more ids, all below the model's vocab_size.</param>
/// <param name="Skipped">Inputs dropped for having fewer than 2 tokens (nothing to predict).</param>
/// <param name="Source">The file or dataset they came from, for messages.</param>
/// <param name="Warnings">Things the user should know, one line each.</param>
public sealed record EvalSequences(IReadOnlyList<int[]> Sequences, int Skipped, string Source, IReadOnlyList<string> Warnings);
