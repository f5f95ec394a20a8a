using System.Text.Json;

namespace MoeQuant.Model.Tokenization;

/// <summary>
/// The parts of a HuggingFace <c>tokenizer.json</c> that MoeQuant supports: a byte-level BPE model, an identity
/// normalizer, <c>Split</c>(Isolated) regexes followed by <c>ByteLevel</c>, and added tokens without strip flags.
/// Anything else is refused here, by JSON path, rather than tokenized differently from HF.
/// </summary>
internal sealed record TokenizerJson(
    IReadOnlyDictionary<string, int> Vocabulary,
    IReadOnlyList<(string Left, string Right)> Merges,
    IReadOnlyList<string> SplitPatterns,
    IReadOnlyList<AddedToken> AddedTokens)
{
    private const string Supported = "MoeQuant reads byte-level BPE tokenizers such as DeepSeek-V3/R1's";

    public static TokenizerJson Load(string path)
    {
        using var document = JsonFiles.Parse(path);
        try
        {
            return Read(document.RootElement, path);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new UserInputException($"{path}: not a HuggingFace tokenizer.json ({e.Message}); {Supported}", e);
        }
    }

    private static TokenizerJson Read(JsonElement root, string path)
    {
        var model = JsonFiles.Required(root, "model", path);
        ReadModelOptions(model, path);
        RequireIdentityNormalizer(root, path);
        RequireType(root, "decoder", "ByteLevel", path);
        if (root.TryGetProperty("post_processor", out var post) && post.ValueKind != JsonValueKind.Null)
        {
            RequireType(root, "post_processor", "ByteLevel", path);
        }

        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in JsonFiles.Required(model, "vocab", path).EnumerateObject())
        {
            vocabulary[entry.Name] = entry.Value.GetInt32();
        }

        // Older files write a merge as "left right", newer ones as ["left", "right"].
        var merges = JsonFiles.Required(model, "merges", path).EnumerateArray().Select(m => m.ValueKind == JsonValueKind.Array
            ? (m[0].GetString()!, m[1].GetString()!)
            : SplitMerge(m.GetString(), path)).ToList();
        return new TokenizerJson(vocabulary, merges, ReadSplitPatterns(root, path), ReadAddedTokens(root, path));
    }

    private static (string, string) SplitMerge(string? merge, string path)
    {
        var space = merge?.IndexOf(' ', StringComparison.Ordinal) ?? -1;
        return space > 0 ? (merge![..space], merge[(space + 1)..]) : throw Fail(path, "model.merges", $"merge '{merge}' is not 'left right'");
    }

    private static void ReadModelOptions(JsonElement model, string path)
    {
        var type = model.TryGetProperty("type", out var t) ? t.GetString() : null;
        if (type != "BPE")
        {
            throw Fail(path, "model.type", $"model type '{type ?? "(none)"}' is not supported; {Supported}");
        }

        foreach (var (name, allowed) in new[] { ("dropout", JsonValueKind.Null), ("continuing_subword_prefix", JsonValueKind.Null),
                     ("end_of_word_suffix", JsonValueKind.Null), ("byte_fallback", JsonValueKind.False), ("ignore_merges", JsonValueKind.False) })
        {
            if (model.TryGetProperty(name, out var value) && value.ValueKind != allowed && value.ValueKind != JsonValueKind.Null)
            {
                throw Fail(path, $"model.{name}", $"BPE option {name}={value.GetRawText()} is not supported; {Supported}");
            }
        }
    }

    private static void RequireIdentityNormalizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("normalizer", out var normalizer) || normalizer.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (normalizer.GetProperty("type").GetString() != "Sequence" || normalizer.GetProperty("normalizers").GetArrayLength() != 0)
        {
            throw Fail(path, "normalizer", $"normalizer {normalizer.GetRawText()} is not supported (only none); {Supported}");
        }
    }

    private static List<string> ReadSplitPatterns(JsonElement root, string path)
    {
        var pre = JsonFiles.Required(root, "pre_tokenizer", path);
        var steps = pre.GetProperty("type").GetString() == "Sequence" ? [.. pre.GetProperty("pretokenizers").EnumerateArray()] : new[] { pre };
        var patterns = new List<string>();
        for (var i = 0; i < steps.Length; i++)
        {
            var step = steps[i];
            var type = step.GetProperty("type").GetString();
            var isLast = i == steps.Length - 1;
            if (type == "Split" && !isLast && step.GetProperty("behavior").GetString() == "Isolated"
                && !step.GetProperty("invert").GetBoolean() && step.GetProperty("pattern").TryGetProperty("Regex", out var regex))
            {
                patterns.Add(regex.GetString()!);
            }
            else if (!(type == "ByteLevel" && isLast && !step.GetProperty("add_prefix_space").GetBoolean()
                     && step.TryGetProperty("use_regex", out var useRegex) && !useRegex.GetBoolean()))
            {
                throw Fail(path, $"pre_tokenizer[{i}]", $"pre-tokenizer {step.GetRawText()} is not supported (only Split Isolated regexes "
                    + $"then ByteLevel without prefix space or regex); {Supported}");
            }
        }

        return patterns;
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root, string path)
    {
        var tokens = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out var added))
        {
            return tokens;
        }

        foreach (var token in added.EnumerateArray())
        {
            var content = token.GetProperty("content").GetString()!;
            if (token.GetProperty("lstrip").GetBoolean() || token.GetProperty("rstrip").GetBoolean() || token.GetProperty("single_word").GetBoolean())
            {
                throw Fail(path, "added_tokens", $"added token '{content}' uses lstrip/rstrip/single_word, which is not supported; {Supported}");
            }

            tokens.Add(new AddedToken(token.GetProperty("id").GetInt32(), content, token.GetProperty("special").GetBoolean(),
                token.GetProperty("normalized").GetBoolean()));
        }

        return tokens;
    }

    private static void RequireType(JsonElement root, string name, string type, string path)
    {
        var element = JsonFiles.Required(root, name, path);
        if (element.ValueKind != JsonValueKind.Object || element.GetProperty("type").GetString() != type)
        {
            throw Fail(path, name, $"{name} {element.GetRawText()} is not supported (only {type}); {Supported}");
        }
    }

    private static UserInputException Fail(string path, string jsonPath, string message) => new($"{path}: {jsonPath}: {message}");
}
