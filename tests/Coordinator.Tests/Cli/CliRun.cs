using System.CommandLine;
using MoeQuant.Coordinator.Cli;
using MoeQuant.Model.Checkpoint;
using MoeQuant.Model.Inspection;

namespace MoeQuant.Coordinator.Tests.Cli;

/// <summary>Runs the moequant CLI in-process with captured stdout and stderr.</summary>
internal sealed record CliRun(int ExitCode, string Output, string Error)
{
    public static Task<CliRun> InvokeAsync(ITensorHeaderReader reader, params string[] args) =>
        InvokeAsync(MoeQuantCli.Build(reader), args);

    public static async Task<CliRun> InvokeAsync(RootCommand root, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exitCode = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return new CliRun(exitCode, output.ToString(), error.ToString());
    }
}

/// <summary>Serves fixed headers for one folder and records the folders it was asked for.</summary>
internal sealed class FakeHeaderReader(IReadOnlyList<TensorHeader> headers) : ITensorHeaderReader
{
    public List<string> Requests { get; } = [];

    public IReadOnlyList<TensorHeader> ReadHeaders(string checkpointDirectory)
    {
        Requests.Add(checkpointDirectory);
        return headers;
    }
}
