using System.Text.Encodings.Web;
using System.Text.Json;

namespace MoeQuant.Model.Tokenization;

/// <summary>
/// What <c>moequant tokenize</c> does, so users can see the ids their data becomes: JSON Lines in, one result per line out.
/// </summary>
public static class JsonLinesTokenization
{
    // Non-ASCII text (the ｜ and ▁ of DeepSeek's special tokens) stays readable; quotes and controls are still escaped.
    private static readonly JsonSerializerOptions Output = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonSerializerOptions Input = new() { PropertyNameCaseInsensitive = true };

    /// <summary>
    /// Reads <paramref name="input"/> line by line. Plain mode: each line is a JSON string, written back as a JSON array of
    /// ids. Chat mode (<paramref name="chat"/>): each line is a JSON array of <c>{"role","content"}</c> messages, rendered
    /// with the tokenizer's chat template and written as <c>{"text": ..., "ids": [...]}</c>. Blank lines are skipped.
    /// </summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="input">JSON Lines.</param>
    /// <param name="output">Where results go, one line each.</param>
    /// <param name="inputName">How errors name the input (e.g. <c>stdin</c>).</param>
    /// <param name="addSpecialTokens">Encode as HF does with <c>add_special_tokens=True</c> (DeepSeek: prepend bos).</param>
    /// <param name="chat">Input lines are conversations.</param>
    /// <param name="addGenerationPrompt">In chat mode, end with the assistant prompt as transformers' option does.</param>
    /// <exception cref="UserInputException">A line is not valid JSON of the expected shape; the message names the line.</exception>
    public static void Run(HfTokenizer tokenizer, TextReader input, TextWriter output, string inputName,
        bool addSpecialTokens, bool chat, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        var template = chat ? tokenizer.GetChatTemplate() : null;
        var lineNumber = 0;
        while (input.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var where = $"{inputName}:{lineNumber}";
            if (template is null)
            {
                var text = Parse<string>(line, where, "a JSON string");
                output.WriteLine(JsonSerializer.Serialize(tokenizer.Encode(text, addSpecialTokens)));
            }
            else
            {
                var messages = Parse<List<ChatMessage>>(line, where, "a JSON array of {\"role\", \"content\"} messages");
                if (messages.Any(m => m is null || m.Role is null || m.Content is null))
                {
                    throw new UserInputException($"{where}: every message needs a string \"role\" and \"content\"");
                }

                string rendered;
                try
                {
                    rendered = template.Render(messages, addGenerationPrompt);
                }
                catch (UserInputException e)
                {
                    throw new UserInputException($"{where}: {e.Message}", e);
                }

                var result = new { text = rendered, ids = tokenizer.Encode(rendered, addSpecialTokens) };
                output.WriteLine(JsonSerializer.Serialize(result, Output));
            }
        }
    }

    private static T Parse<T>(string line, string where, string expected)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(line, Input)
                ?? throw new UserInputException($"{where}: expected {expected}, got null");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new UserInputException($"{where}: expected {expected}: {e.Message}", e);
        }
    }
}
