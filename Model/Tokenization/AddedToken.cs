namespace MoeQuant.Model.Tokenization;

/// <summary>
/// A token from the <c>added_tokens</c> list of a HuggingFace <c>tokenizer.json</c>: matched in the raw text before
/// pre-tokenization and mapped straight to <see cref="Id"/>, never split by BPE.
/// </summary>
/// <param name="Id">The token id.</param>
/// <param name="Content">The exact text that is matched.</param>
/// <param name="Special">Special tokens are dropped by <see cref="HfTokenizer.Decode"/> when it skips special tokens.</param>
/// <param name="Normalized">Whether HF matches it in the normalized text (second pass) rather than the raw text (first pass).</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool Normalized);
