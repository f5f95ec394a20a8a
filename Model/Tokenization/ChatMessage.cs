namespace MoeQuant.Model.Tokenization;

/// <summary>One turn of a conversation, as transformers' <c>apply_chat_template</c> takes it.</summary>
/// <param name="Role"><c>system</c>, <c>user</c> or <c>assistant</c>.</param>
/// <param name="Content">The turn's text.</param>
public sealed record ChatMessage(string Role, string Content);
