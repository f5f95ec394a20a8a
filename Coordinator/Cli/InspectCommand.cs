using System.CommandLine;
using MoeQuant.Model;
using MoeQuant.Model.Config;
using MoeQuant.Model.Inspection;
using MoeQuant.Model.TinyModel;

namespace MoeQuant.Coordinator.Cli;

/// <summary><c>moequant inspect [&lt;dir&gt;] [--json]</c>: what a checkpoint holds, from config.json and the safetensors headers.</summary>
public static class InspectCommand
{
    public static Command Create(ITensorHeaderReader headerReader)
    {
        var directory = new Argument<DirectoryInfo?>("dir")
        {
            Description = "Checkpoint folder (config.json and *.safetensors); the built-in tiny model when omitted",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON instead of tables" };
        var command = new Command("inspect", "Show architecture, layers, experts, dtypes, FP8, parameters and bytes of a checkpoint")
        {
            directory,
            json,
        };
        command.SetAction(parseResult =>
        {
            var dir = parseResult.GetValue(directory);
            // Without a folder: the built-in model that ships with MoeQuant.
            var folder = dir ?? new DirectoryInfo(BuiltInModel.Folder);
            var source = dir is null ? $"built-in model ({folder.FullName})" : folder.FullName;
            var summary = Summarize(folder, headerReader);
            var output = parseResult.InvocationConfiguration.Output;
            if (parseResult.GetValue(json))
            {
                output.WriteLine(summary.ToJson());
            }
            else
            {
                InspectReport.Write(summary, source, output);
            }

            return 0;
        });
        return command;
    }

    // The config is read first: a folder without a usable config.json is reported as such, not as a shard problem.
    private static CheckpointSummary Summarize(DirectoryInfo dir, ITensorHeaderReader headerReader)
    {
        if (!dir.Exists)
        {
            throw new UserInputException($"{dir.FullName}: checkpoint folder does not exist");
        }

        var config = DeepseekV3Config.Load(Path.Combine(dir.FullName, "config.json"));
        return CheckpointSummary.Create(config, headerReader.ReadHeaders(dir.FullName));
    }
}
