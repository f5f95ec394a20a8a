using System.CommandLine;
using MoeQuant.Coordinator.Packing;

namespace MoeQuant.Coordinator.Cli;

/// <summary><c>moequant pack --save-dir RUN</c>: writes a finished run's quantized state as a checkpoint that
/// transformers and vLLM load, without re-quantizing; by default into the save_dir itself.</summary>
public static class PackCommand
{
    public static Command Create()
    {
        var saveDir = new Option<string>("--save-dir", "--save_dir") { Description = "The finished run's save_dir", Required = true };
        var output = new Option<string?>("--output") { Description = "Checkpoint folder (default: the save_dir itself)" };
        var format = new Option<string?>("--export-format", "--export_format")
        {
            Description = "compressed-tensors or gptq-v1 (default: the run's --export-format)",
        };
        var keepMtp = new Option<bool>("--keep-mtp", "--keep_mtp") { Description = "Keep the MTP layer, unquantized (bf16), instead of dropping it" };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace a checkpoint already in the output folder" };
        var model = new Option<string?>("--model-name-or-path", "--model_name_or_path")
        {
            Description = "The original checkpoint (default: the folder the run recorded, or the built-in tiny model)",
        };
        var threads = new Option<int>("--threads")
        {
            Description = "Tensors packed and written at once (default: every core); any count writes the same bytes",
            DefaultValueFactory = _ => Environment.ProcessorCount,
        };
        threads.Validators.Add(result =>
        {
            if (result.GetValue(threads) < 1)
            {
                result.AddError("--threads must be at least 1");
            }
        });
        var command = new Command("pack", "Write a finished run's quantized state as a loadable checkpoint without re-quantizing")
        {
            saveDir, output, format, keepMtp, overwrite, model, threads,
        };
        command.SetAction(parseResult =>
        {
            var result = RunExport.Run(new PackOptions(
                parseResult.GetValue(saveDir)!,
                parseResult.GetValue(output),
                parseResult.GetValue(format),
                parseResult.GetValue(keepMtp),
                parseResult.GetValue(overwrite),
                parseResult.GetValue(model),
                Threads: parseResult.GetValue(threads)));
            RunExport.Report(result, parseResult.InvocationConfiguration.Output);
            return 0;
        });
        return command;
    }
}
