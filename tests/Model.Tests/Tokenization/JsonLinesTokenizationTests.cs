using MoeQuant.Model.Tokenization;

namespace MoeQuant.Model.Tests.Tokenization;

public class JsonLinesTokenizationTests
{
    private static readonly HfTokenizer Tokenizer = DeepSeekTokenizer.Instance;

    [Fact]
    public void Should_write_one_id_array_per_json_string_line_and_skip_blank_lines()
    {
        Assert.Equal("[19923,2058]\n[2058]\n", Run("\"Hello world\"\n\n\" world\"\n", special: false, chat: false, prompt: false));
        Assert.Equal("[0,19923,2058]\n", Run("\"Hello world\"\n", special: true, chat: false, prompt: false));
    }

    [Fact]
    public void Should_render_chat_lines_and_write_text_with_ids()
    {
        var output = Run("[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"Hi\"}]\n", special: false, chat: true, prompt: true);
        Assert.Equal("{\"text\":\"<｜begin▁of▁sentence｜>S<｜User｜>Hi<｜Assistant｜>\",\"ids\":[0,53,128803,23166,128804]}\n", output);
    }

    [Theory]
    [InlineData("\"ok\"\n[1, 2]\n", false, "stdin:2: expected a JSON string")]
    [InlineData("\"unterminated\n", false, "stdin:1: expected a JSON string")]
    [InlineData("[{\"role\":\"user\"}]\n", true, "stdin:1: every message needs a string \"role\" and \"content\"")]
    [InlineData("[{\"role\":\"tool\",\"content\":\"x\"}]\n", true, "stdin:1: chat message role 'tool' is not supported")]
    [InlineData("{\"role\":\"user\"}\n", true, "stdin:1: expected a JSON array of")]
    public void Should_name_the_line_of_bad_input(string input, bool chat, string message)
    {
        var e = Assert.Throws<UserInputException>(() => Run(input, special: false, chat, prompt: false));
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
    }

    private static string Run(string input, bool special, bool chat, bool prompt)
    {
        var output = new StringWriter { NewLine = "\n" };
        JsonLinesTokenization.Run(Tokenizer, new StringReader(input), output, "stdin", special, chat, prompt);
        return output.ToString();
    }
}
