using System.CommandLine;

namespace MoeQuant.Coordinator.Cli;

/// <summary>The root command: each subcommand parses its flags and hands them to the code that does the work.</summary>
public static class MoeQuantCli
{
    public static RootCommand Build()
    {
        var root = new RootCommand("MoeQuant: GPTQ quantization of DeepSeek-V3-family Mixture-of-Experts checkpoints");
        root.Subcommands.Add(TokenizeCommand.Create());
        return root;
    }
}
