using System.Text.Json;

namespace MoeQuant.Model.Tokenization;

/// <summary>
/// What MoeQuant reads from <c>tokenizer_config.json</c>: the bos/eos tokens, whether encoding with special tokens adds
/// them, and the chat template (from the config, or from <c>chat_template.jinja</c> beside it as newer transformers write).
/// </summary>
internal sealed record TokenizerConfigJson(string? BosToken, string? EosToken, bool AddBosToken, bool AddEosToken, string? ChatTemplate)
{
    public static TokenizerConfigJson Load(string path)
    {
        using var document = JsonFiles.Parse(path);
        var root = document.RootElement;
        var tokenizerClass = root.TryGetProperty("tokenizer_class", out var c) ? c.GetString() : null;

        // LlamaTokenizerFast (DeepSeek-V3's class) builds its post-processor from add_bos_token/add_eos_token, which
        // default to true/false; other classes add nothing unless the config says so.
        var isLlama = tokenizerClass is "LlamaTokenizerFast" or "LlamaTokenizer";
        return new TokenizerConfigJson(
            TokenContent(root, "bos_token", path),
            TokenContent(root, "eos_token", path),
            Flag(root, "add_bos_token", isLlama, path),
            Flag(root, "add_eos_token", false, path),
            ReadChatTemplate(root, path));
    }

    private static string? TokenContent(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var token))
        {
            return null;
        }

        return token.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => token.GetString(),
            JsonValueKind.Object when token.TryGetProperty("content", out var content) => content.GetString(),
            _ => throw new UserInputException($"{path}: {name} must be a string or an object with 'content', not {token.GetRawText()}"),
        };
    }

    private static bool Flag(JsonElement root, string name, bool fallback, string path)
    {
        if (!root.TryGetProperty(name, out var flag) || flag.ValueKind == JsonValueKind.Null)
        {
            return fallback;
        }

        return flag.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? flag.GetBoolean()
            : throw new UserInputException($"{path}: {name} must be true or false, not {flag.GetRawText()}");
    }

    private static string? ReadChatTemplate(JsonElement root, string path)
    {
        if (root.TryGetProperty("chat_template", out var template) && template.ValueKind != JsonValueKind.Null)
        {
            if (template.ValueKind == JsonValueKind.String)
            {
                return template.GetString();
            }

            // transformers also accepts a list of named templates and uses the one called "default".
            foreach (var named in template.EnumerateArray())
            {
                if (named.GetProperty("name").GetString() == "default")
                {
                    return named.GetProperty("template").GetString();
                }
            }

            throw new UserInputException($"{path}: chat_template lists named templates but none is called 'default'");
        }

        var jinja = Path.Combine(Path.GetDirectoryName(path) ?? ".", "chat_template.jinja");
        return File.Exists(jinja) ? File.ReadAllText(jinja) : null;
    }
}
