using System.CommandLine;
using System.CommandLine.Invocation;
using MoeQuant.Model;

namespace MoeQuant.Coordinator.Cli;

/// <summary>
/// The one place where a <see cref="UserInputException"/> becomes "error: &lt;message&gt;" on stderr and exit code 2.
/// A mistake in the user's input is not a crash, so it gets no stack trace; any other exception still does.
/// </summary>
internal static class UserErrorAction
{
    public const int ExitCode = 2;

    /// <summary>Wraps the action of <paramref name="command"/> and of all its subcommands.</summary>
    public static void Apply(Command command)
    {
        command.Action = command.Action switch
        {
            SynchronousCommandLineAction action => new Synchronous(action),
            AsynchronousCommandLineAction action => new Asynchronous(action),
            var other => other,
        };
        foreach (var subcommand in command.Subcommands)
        {
            Apply(subcommand);
        }
    }

    private static int Report(ParseResult parseResult, UserInputException e)
    {
        // The message is one line by contract; make sure of it so that scripts can grep stderr.
        parseResult.InvocationConfiguration.Error.WriteLine($"error: {e.Message.ReplaceLineEndings(" ")}");
        return ExitCode;
    }

    private sealed class Synchronous(SynchronousCommandLineAction inner) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            try
            {
                return inner.Invoke(parseResult);
            }
            catch (UserInputException e)
            {
                return Report(parseResult, e);
            }
        }
    }

    private sealed class Asynchronous(AsynchronousCommandLineAction inner) : AsynchronousCommandLineAction
    {
        public override async Task<int> InvokeAsync(ParseResult parseResult, CancellationToken cancellationToken = default)
        {
            try
            {
                return await inner.InvokeAsync(parseResult, cancellationToken).ConfigureAwait(false);
            }
            catch (UserInputException e)
            {
                return Report(parseResult, e);
            }
        }
    }
}
