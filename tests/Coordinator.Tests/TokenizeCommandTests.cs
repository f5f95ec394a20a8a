using MoeQuant.Coordinator.Cli;
using MoeQuant.Coordinator.Tests.Cli;

namespace MoeQuant.Coordinator.Tests;

public class TokenizeCommandTests
{
    private static readonly string TokenizerDirectory = Path.Combine(AppContext.BaseDirectory, "Fixtures", "deepseek-v3-tokenizer");

    [Fact]
    public void Should_tokenize_stdin_lines_through_the_parsed_command()
    {
        var (code, output) = Invoke("\"Hello world\"\n", "tokenize", "--model_name_or_path", TokenizerDirectory, "--add-special-tokens");
        Assert.Equal(0, code);
        Assert.Equal("[0,19923,2058]", output.Trim());
    }

    [Fact]
    public async Task Should_print_user_errors_and_exit_with_code_2()
    {
        var missing = await CliRun.InvokeAsync(new FakeHeaderReader([]), "tokenize", "--model-name-or-path", "/nonexistent");
        Assert.Equal(2, missing.ExitCode);
        Assert.StartsWith("error: /nonexistent: no tokenizer.json there", missing.Error, StringComparison.Ordinal);

        var misused = await CliRun.InvokeAsync(new FakeHeaderReader([]), "tokenize", "--model-name-or-path", TokenizerDirectory, "--add-generation-prompt");
        Assert.Equal(2, misused.ExitCode);
        Assert.Contains("only with --chat", misused.Error, StringComparison.Ordinal);
    }

    private static (int Code, string Output) Invoke(string input, params string[] args)
    {
        var parse = MoeQuantCli.Build(new FakeHeaderReader([])).Parse(args);
        Assert.Empty(parse.Errors);
        var (inputReader, output) = (new StringReader(input), new StringWriter());
        var code = TokenizeCommand.Run(parse.GetValue<string>("--model-name-or-path")!, parse.GetValue<bool>("--add-special-tokens"),
            parse.GetValue<bool>("--chat"), parse.GetValue<bool>("--add-generation-prompt"), inputReader, output);
        return (code, output.ToString());
    }
}
