using MoeQuant.Model.Evaluation;
using MoeQuant.Model.Tests.Checkpoint;

namespace MoeQuant.Model.Tests.Evaluation;

public sealed class TokenIdLinesTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string Write(string text)
    {
        var path = _folder.File("ids.jsonl");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Should_read_every_line_whole_skipping_and_counting_lines_under_two_ids()
    {
        var path = Write("[1, 2, 3]\n[7]\n\n[]\n[1023, 0]\n");

        var read = TokenIdLines.Read(path, vocabSize: 1024);

        Assert.Equal([[1, 2, 3], [1023, 0]], read.Sequences);
        Assert.Equal((2, path), (read.Skipped, read.Source));
        Assert.Equal(["skipped 2 lines with fewer than 2 token ids"], read.Warnings);
    }

    [Theory]
    [InlineData("[1, 2,", "not valid JSON")]
    [InlineData("{\"ids\": [1, 2]}", "expected a JSON array of token ids, found a JSON object")]
    [InlineData("[1, 1024]", "1024 is not a token id of this model (an integer from 0 to 1023)")]
    [InlineData("[1, -1]", "-1 is not a token id of this model")]
    [InlineData("[1, 2.5]", "2.5 is not a token id of this model")]
    [InlineData("[1, \"2\"]", "\"2\" is not a token id of this model")]
    public void Should_name_the_file_and_line_of_a_bad_line(string badLine, string problem)
    {
        var path = Write($"[5, 6]\n\n{badLine}\n[7, 8]\n");

        var error = Assert.Throws<UserInputException>(() => TokenIdLines.Read(path, vocabSize: 1024));

        Assert.StartsWith($"{path}:3: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_fail_naming_the_file_when_no_line_has_two_ids()
    {
        var path = Write("[1]\n[2]\n");

        var error = Assert.Throws<UserInputException>(() => TokenIdLines.Read(path, vocabSize: 1024));

        Assert.Equal($"{path}: no line has 2 or more token ids (2 lines skipped)", error.Message);
    }

    [Fact]
    public void Should_fail_naming_the_flag_when_the_file_does_not_exist()
    {
        var path = _folder.File("missing.jsonl");

        var error = Assert.Throws<UserInputException>(() => TokenIdLines.Read(path, vocabSize: 1024));

        Assert.Equal($"--input-ids {path}: file does not exist", error.Message);
    }
}
