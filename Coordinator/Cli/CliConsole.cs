using System.CommandLine;
using Spectre.Console;

namespace MoeQuant.Coordinator.Cli;

/// <summary>A Spectre console writing to the command's output writer, so tests can capture tables.</summary>
internal static class CliConsole
{
    public static IAnsiConsole For(ParseResult parseResult) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(parseResult.InvocationConfiguration.Output),
    });
}
