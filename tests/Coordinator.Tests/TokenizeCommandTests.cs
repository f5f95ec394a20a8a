using MoeQuant.Coordinator.Cli;

namespace MoeQuant.Coordinator.Tests;

public class TokenizeCommandTests
{
    private static readonly string TokenizerDirectory = Path.Combine(AppContext.BaseDirectory, "Fixtures", "deepseek-v3-tokenizer");

    [Fact]
    public void Should_tokenize_stdin_lines_through_the_parsed_command()
    {
        var (code, output, error) = Invoke("\"Hello world\"\n", "tokenize", "--model_name_or_path", TokenizerDirectory, "--add-special-tokens");
        Assert.Equal(0, code);
        Assert.Equal("[0,19923,2058]", output.Trim());
        Assert.Empty(error);
    }

    [Fact]
    public void Should_print_user_errors_and_exit_with_code_2()
    {
        var (code, _, error) = Invoke("", "tokenize", "--model-name-or-path", "/nonexistent");
        Assert.Equal(2, code);
        Assert.StartsWith("/nonexistent: no tokenizer.json there", error, StringComparison.Ordinal);

        (code, _, error) = Invoke("", "tokenize", "--model-name-or-path", TokenizerDirectory, "--add-generation-prompt");
        Assert.Equal(2, code);
        Assert.Contains("only with --chat", error, StringComparison.Ordinal);
    }

    private static (int Code, string Output, string Error) Invoke(string input, params string[] args)
    {
        var parse = MoeQuantCli.Build().Parse(args);
        Assert.Empty(parse.Errors);
        var (inputReader, output, error) = (new StringReader(input), new StringWriter(), new StringWriter());
        var code = TokenizeCommand.Run(parse.GetValue<string>("--model-name-or-path")!, parse.GetValue<bool>("--add-special-tokens"),
            parse.GetValue<bool>("--chat"), parse.GetValue<bool>("--add-generation-prompt"), inputReader, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
