using System.Text.Json.Nodes;
using MoeQuant.Model.Tokenization;

namespace MoeQuant.Model.Tests.Tokenization;

public sealed class TokenizerLoadingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("moequant-tok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Should_refuse_a_folder_without_tokenizer_json()
    {
        var e = Assert.Throws<UserInputException>(() => HfTokenizer.Load(_dir));
        Assert.Contains("no tokenizer.json", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_name_file_and_line_of_malformed_json()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), "{\n  \"model\": {\n    \"type\": BPE\n  }\n}");
        var e = Assert.Throws<UserInputException>(() => HfTokenizer.Load(_dir));
        Assert.StartsWith(Path.Combine(_dir, "tokenizer.json") + ":3:", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("model", "{\"type\":\"WordPiece\",\"vocab\":{}}", "model.type: model type 'WordPiece' is not supported")]
    [InlineData("normalizer", "{\"type\":\"NFC\"}", "normalizer {\"type\":\"NFC\"} is not supported")]
    [InlineData("pre_tokenizer", "{\"type\":\"Whitespace\"}", "pre_tokenizer[0]: pre-tokenizer")]
    [InlineData("decoder", "{\"type\":\"WordPiece\"}", "decoder {\"type\":\"WordPiece\"} is not supported")]
    public void Should_refuse_unsupported_tokenizer_kinds_by_json_path(string key, string replacement, string message)
    {
        var json = SmallTokenizer();
        json[key] = JsonNode.Parse(replacement);
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), json.ToJsonString());
        var e = Assert.Throws<UserInputException>(() => HfTokenizer.Load(_dir));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_load_a_small_byte_level_tokenizer_without_config_and_refuse_chat()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), SmallTokenizer().ToJsonString());
        var tokenizer = HfTokenizer.Load(_dir);
        Assert.Equal([256, 257, 97], tokenizer.Encode("ab ba"));
        Assert.Equal("ab ba", tokenizer.Decode([256, 257, 97]));
        Assert.False(tokenizer.AddBosToken);
        Assert.Contains("no chat_template", Assert.Throws<UserInputException>(tokenizer.GetChatTemplate).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_read_a_named_default_template_and_refuse_a_bos_token_missing_from_the_vocabulary()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), SmallTokenizer().ToJsonString());
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), "{\"bos_token\": \"<s>\", \"tokenizer_class\": \"LlamaTokenizerFast\"}");
        var e = Assert.Throws<UserInputException>(() => HfTokenizer.Load(_dir));
        Assert.Contains("bos_token '<s>' is not in tokenizer.json", e.Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}]}");
        e = Assert.Throws<UserInputException>(() => HfTokenizer.Load(_dir));
        Assert.Contains("none is called 'default'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_a_vocabulary_without_every_byte_token()
    {
        var json = SmallTokenizer();
        json["model"]!["vocab"]!.AsObject().Remove("Ġ");
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), json.ToJsonString());
        var e = Assert.Throws<UserInputException>(() => HfTokenizer.Load(_dir));
        Assert.Contains("model.vocab lacks the byte-level token 'Ġ' for byte 0x20", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A byte-level BPE with the 256 byte tokens (ids 0–255 in byte order, so "a" is 97 and "Ġ" 32), "ab" = 256 and
    /// "Ġb" = 257 from merges "a b" and ["Ġ", "b"], and the DeepSeek pre-tokenizer shape.
    /// </summary>
    private static JsonObject SmallTokenizer()
    {
        var vocab = new JsonObject();
        for (var b = 0; b < 256; b++)
        {
            vocab[ByteLevel.ByteToChar[b].ToString()] = b;
        }

        vocab["ab"] = 256;
        vocab["Ġb"] = 257;
        var json = JsonNode.Parse("""
            {
              "version": "1.0",
              "added_tokens": [],
              "normalizer": null,
              "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": "\\s?\\p{L}+"}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
              "post_processor": null,
              "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
              "model": {"type": "BPE", "dropout": null, "unk_token": null, "byte_fallback": false, "merges": ["a b", ["Ġ", "b"]]}
            }
            """)!.AsObject();
        json["model"]!["vocab"] = vocab;
        return json;
    }
}
