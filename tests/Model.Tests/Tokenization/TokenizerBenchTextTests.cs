using System.Text;
using MoeQuant.Model.Tokenization;

namespace MoeQuant.Model.Tests.Tokenization;

public class TokenizerBenchTextTests
{
    private static readonly string[] English =
    [
        "In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep.",
        "And God said, Let there be light: and there was light. And God saw the light, that it was good.",
    ];

    [Fact]
    public void Should_generate_the_same_mixed_documents_for_the_same_seed()
    {
        var first = TokenizerBenchText.Generate(200_000, English, seed: 7);
        var again = TokenizerBenchText.Generate(200_000, English, seed: 7);
        var other = TokenizerBenchText.Generate(200_000, English, seed: 8);

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.InRange(TokenizerBenchText.Utf8Bytes(first), 200_000, 400_000);
        var all = string.Concat(first);
        Assert.Contains("And God said", all, StringComparison.Ordinal);
        Assert.Contains(all, c => c is >= '\u4e00' and <= '\u9fa5');
        Assert.Contains(all, char.IsAsciiDigit);
        Assert.True(all.Contains("def ", StringComparison.Ordinal) || all.Contains("return ", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_read_back_exactly_what_it_writes()
    {
        var path = Path.GetTempFileName();
        try
        {
            string[] documents = ["plain", "line\nbreaks\r\n and \"quotes\"", "emoji 😀 and 𠀀, CJK 量化", "\u2028\u0085\t\0", ""];
            TokenizerBenchText.Write(path, documents);

            // ASCII only, so Python's json reads the very same text whatever its line splitting.
            Assert.All(File.ReadAllBytes(path), b => Assert.True(b < 0x80));
            Assert.Equal(documents, TokenizerBenchText.Read(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Should_name_the_line_that_is_not_a_json_string()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "\"ok\"\n\n[1, 2]\n", Encoding.UTF8);
            var error = Assert.Throws<UserInputException>(() => TokenizerBenchText.Read(path));
            Assert.StartsWith($"{path}:3: expected a JSON string", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
