using System.Text.Json;
using System.Text.RegularExpressions;
using MoeQuant.Model.Tokenization;

namespace MoeQuant.Model.Calibration;

/// <summary>
/// Turns one row into token ids the way MoE-Quant's <c>src/data_utils.py</c> does: conversations through the chat
/// template and encoded without special tokens (the template writes bos), raw text encoded with them (bos first), and
/// every sequence cut to the maximum length by HF's right-side truncation.
/// </summary>
internal sealed partial class SampleBuilder
{
    private readonly HfTokenizer? _tokenizer;
    private readonly ChatTemplate? _template;
    private readonly int _maxLength;

    public SampleBuilder(RowKind kind, HfTokenizer? tokenizer, int maxLength)
    {
        Kind = kind;
        _tokenizer = tokenizer;
        _maxLength = maxLength;
        if (kind is RowKind.OpenThoughts or RowKind.Platypus or RowKind.Messages)
        {
            _template = (tokenizer ?? throw NeedsTokenizer()).GetChatTemplate();
        }
        else if (kind == RowKind.Text && tokenizer is null)
        {
            throw NeedsTokenizer();
        }
    }

    public RowKind Kind { get; }

    /// <summary>The kind of a dataset, from its first row.</summary>
    public static RowKind Detect(Row row) => row.Value.ValueKind switch
    {
        JsonValueKind.Array => RowKind.TokenIds,
        JsonValueKind.String => RowKind.Text,
        JsonValueKind.Object when row.Value.TryGetProperty("conversations", out _) => RowKind.OpenThoughts,
        JsonValueKind.Object when row.Value.TryGetProperty("instruction", out _) => RowKind.Platypus,
        JsonValueKind.Object when row.Value.TryGetProperty("messages", out _) => RowKind.Messages,
        JsonValueKind.Object when row.Value.TryGetProperty("text", out _) => RowKind.Text,
        _ => throw new UserInputException($"{row.Location}: no 'text' field (nor 'conversations', 'instruction'/'output' or 'messages'), "
            + "and not a JSON string or an array of token ids"),
    };

    /// <summary>The row's ids, at most the maximum length long.</summary>
    public int[] Build(Row row)
    {
        var ids = Kind switch
        {
            RowKind.TokenIds => TokenIds(row),
            RowKind.Text => EncodeText(Text(row)),
            _ => _tokenizer!.Encode(_template!.Render(Messages(row), addGenerationPrompt: false)),
        };
        return ids.Length > _maxLength ? ids[.._maxLength] : ids;
    }

    private int[] EncodeText(string text)
    {
        // HF truncation keeps the special tokens and cuts the text between them.
        var tokenizer = _tokenizer!;
        var content = tokenizer.Encode(text);
        var budget = Math.Max(0, _maxLength - (tokenizer.AddBosToken ? 1 : 0) - (tokenizer.AddEosToken ? 1 : 0));
        int[] bos = tokenizer.AddBosToken ? [tokenizer.BosId!.Value] : [];
        int[] eos = tokenizer.AddEosToken ? [tokenizer.EosId!.Value] : [];
        return [.. bos, .. content.Length > budget ? content[..budget] : content, .. eos];
    }

    private List<ChatMessage> Messages(Row row) => Kind switch
    {
        RowKind.Platypus => [new("user", Field(row, row.Value, "instruction")), new("assistant", Field(row, row.Value, "output"))],
        RowKind.Messages => [.. Array(row, "messages").Select(m => new ChatMessage(Field(row, m, "role"), Field(row, m, "content")))],
        _ => OpenThoughts(row),
    };

    /// <summary>MoE-Quant's <c>prepare_open_thoughts</c>: system prompt, user turns as is, assistant turns reduced to their solution.</summary>
    private static List<ChatMessage> OpenThoughts(Row row)
    {
        var messages = new List<ChatMessage>();
        if (row.Value.TryGetProperty("system", out var system) && system.ValueKind == JsonValueKind.String)
        {
            messages.Add(new("system", system.GetString()!));
        }

        foreach (var turn in Array(row, "conversations"))
        {
            var value = Field(row, turn, "value");
            if (Field(row, turn, "from") == "user")
            {
                messages.Add(new("user", value));
                continue;
            }

            // The thought goes to reasoning_content, which no DeepSeek V3/R1 template renders; MoE-Quant still requires it.
            var thought = Thought().Match(value);
            var solution = Solution().Match(value);
            if (!thought.Success || !solution.Success)
            {
                throw new UserInputException($"{row.Location}: an assistant turn lacks <|begin_of_thought|>…<|end_of_thought|> or "
                    + "<|begin_of_solution|>…<|end_of_solution|>");
            }

            messages.Add(new("assistant", PythonStrip(solution.Groups[1].Value)));
        }

        return messages;
    }

    private static string Text(Row row) => row.Value.ValueKind == JsonValueKind.String ? row.Value.GetString()! : Field(row, row.Value, "text");

    private int[] TokenIds(Row row)
    {
        if (row.Value.ValueKind != JsonValueKind.Array)
        {
            throw new UserInputException($"{row.Location}: expected a JSON array of token ids like the first row");
        }

        var limit = _tokenizer?.VocabularySize ?? int.MaxValue;
        return [.. row.Value.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var id) && id >= 0 && id < limit
            ? id
            : throw new UserInputException($"{row.Location}: {e.GetRawText()} is not a token id (0 to {limit - 1})"))];
    }

    private static string Field(Row row, JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new UserInputException($"{row.Location}: missing text field '{name}'");

    private static JsonElement.ArrayEnumerator Array(Row row, string name) =>
        row.Value.ValueKind == JsonValueKind.Object && row.Value.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Array
            ? value.EnumerateArray()
            : throw new UserInputException($"{row.Location}: missing list field '{name}'");

    /// <summary>Python's <c>str.strip()</c>: whitespace is what <c>str.isspace</c> says, which differs from .NET's at U+001C–U+001F.</summary>
    private static string PythonStrip(string text) => text.Trim(
        ['\t', '\n', '\v', '\f', '\r', '\u001c', '\u001d', '\u001e', '\u001f', ' ', '\u0085', '\u00a0', '\u1680', '\u2000', '\u2001', '\u2002',
         '\u2003', '\u2004', '\u2005', '\u2006', '\u2007', '\u2008', '\u2009', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000']);

    private UserInputException NeedsTokenizer() =>
        new($"{Kind} rows need a tokenizer, and the model has none; pass a .jsonl whose lines are arrays of token ids instead");

    [GeneratedRegex(@"<\|begin_of_thought\|>(.*?)<\|end_of_thought\|>", RegexOptions.Singleline)]
    private static partial Regex Thought();

    [GeneratedRegex(@"<\|begin_of_solution\|>(.*?)<\|end_of_solution\|>", RegexOptions.Singleline)]
    private static partial Regex Solution();
}
