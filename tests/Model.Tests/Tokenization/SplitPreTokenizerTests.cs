using System.Text.Json;
using MoeQuant.Model.Tokenization;

namespace MoeQuant.Model.Tests.Tokenization;

public class SplitPreTokenizerTests
{
    private static readonly SplitPreTokenizer DeepSeek = new(ReadPatterns());

    [Theory]
    [InlineData("Hello world", new[] { "Hello", " world" })]
    [InlineData("1234567", new[] { "123", "456", "7" })]
    [InlineData("abc中文def", new[] { "abc", "中文", "def" })]
    [InlineData("x  \n\ny", new[] { "x", "  \n\n", "y" })]
    public void Should_split_as_the_deepseek_regex_sequence_does(string text, string[] pieces)
    {
        Assert.Equal(pieces, Pieces(text));
    }

    [Fact]
    public void Should_match_unicode_classes_on_code_points_outside_the_bmp()
    {
        // 𝐀 is \p{L} and 𝟏𝟐𝟑𝟒 are \p{N} to Oniguruma; as UTF-16 surrogates they would be neither.
        Assert.Equal(["x𝐀", " ", "𝟏𝟐𝟑", "𝟒"], Pieces("x𝐀 𝟏𝟐𝟑𝟒"));
        Assert.Equal(["😀", " 𠀀"], Pieces("😀 𠀀"));
    }

    private static string[] Pieces(string text) => [.. DeepSeek.PreTokenize(text).Select(p => text.Substring(p.Offset, p.Length))];

    private static IEnumerable<string> ReadPatterns()
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(DeepSeekTokenizer.Directory, "tokenizer.json")));
        return [.. json.RootElement.GetProperty("pre_tokenizer").GetProperty("pretokenizers").EnumerateArray()
            .Where(p => p.GetProperty("type").GetString() == "Split")
            .Select(p => p.GetProperty("pattern").GetProperty("Regex").GetString()!)];
    }
}
