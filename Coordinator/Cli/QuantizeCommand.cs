using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MoeQuant.Coordinator.Actors;
using MoeQuant.Coordinator.Evaluation;
using MoeQuant.Coordinator.Hosting;
using MoeQuant.Coordinator.Packing;
using MoeQuant.Coordinator.Progress;
using MoeQuant.Coordinator.Report;
using MoeQuant.Model;
using MoeQuant.Model.Export;

namespace MoeQuant.Coordinator.Cli;

/// <summary><c>moequant quantize</c>: every flag of MoE-Quant's quant.py (kebab-case, or its snake_case spelling), plus
/// --devices, --resume, --overwrite, --seed, --export-format and --config. Flags become configuration keys; the host
/// does the rest.</summary>
public static class QuantizeCommand
{
    /// <summary>Exit code of a run that stopped (device loss everywhere, disk full, ...); its finished layers are kept.</summary>
    public const int RunFailedExitCode = 1;

    public static Command Create(IWorkloadFactory factory)
    {
        var flags = new List<(Option Option, string Key, Func<ParseResult, string?> Value)>();
        var command = new Command("quantize", "GPTQ-quantize a DeepSeek-V3 checkpoint layer by layer (the built-in tiny model without flags)");
        Option<T> Add<T>(string kebab, string key, string description)
        {
            var snake = "--" + kebab[2..].Replace('-', '_');
            var option = snake == kebab ? new Option<T>(kebab) : new Option<T>(kebab, snake);
            option.Description = description;
            command.Options.Add(option);
            flags.Add((option, key, result => Invariant(result.GetValue(option))));
            return option;
        }

        Add<string>("--model-name-or-path", "Model:Path", "Checkpoint folder (default: the built-in tiny model)");
        Add<string>("--dataset-name-or-path", "Calibration:Dataset", "Calibration dataset name or folder (default: the model's built-in data)");
        Add<int>("--num-calibration-samples", "Calibration:NumCalibrationSamples", "Calibration sequences (default 128)");
        Add<int>("--max-sequence-length", "Calibration:MaxSequenceLength", "Truncation length in tokens (default 8192)");
        Add<int>("--seed", "Calibration:Seed", "Calibration sampling seed (default 0)");
        Add<bool>("--offload-activations", "Calibration:OffloadActivations", "Keep inter-layer activations off the device");
        Add<int>("--bits", "Gptq:Bits", "Bits per weight: 2, 3, 4 or 8 (default 4)");
        Add<int>("--group-size", "Gptq:GroupSize", "Columns per scale (default: one group per row)");
        Add<double>("--rel-damp", "Gptq:RelDamp", "Damping relative to the Hessian's mean diagonal (default 0.01)");
        Add<int>("--block-size", "Gptq:BlockSize", "GPTQ lazy-batch block in columns (default 128)");
        Add<bool>("--sym", "Gptq:Sym", "Symmetric quantization grid");
        Add<string>("--quantization-order", "Gptq:QuantizationOrder", "default or activation (default: default)");
        Add<string>("--quantization-scale", "Gptq:QuantizationScale", "absmax or mse (default: absmax)");
        Add<string>("--method", "Gptq:Method", "gptq, or rtn for round-to-nearest with the same scales (default: gptq)");
        Add<bool>("--quantize-only-experts", "Gptq:QuantizeOnlyExperts", "Quantize routed experts only");
        Add<bool>("--tie-gptq-handles", "Gptq:TieGptqHandles", "gate and up projections share one Hessian");
        Add<string>("--dtype", "Model:Dtype", "float16, bfloat16 or float32: compute and scale dtype (default bfloat16)");
        Add<string>("--save-dir", "Run:SaveDir", "Output folder (default ./quantized/<model>-w<bits>g<group>)");
        Add<string>("--devices", "Run:Devices", "cpu, cpu:N (N logical CPU devices), 0-7 or 0,2 (default: every GPU, else cpu)");
        Add<bool>("--resume", "Run:Resume", "Continue the run in --save-dir at its first unfinished layer");
        Add<bool>("--overwrite", "Run:Overwrite", "Start over in a --save-dir that holds other files or another run");
        Add<double>("--hessian-memory-gb", "Run:HessianMemoryGb", "GiB of fp32 Hessians one calibration wave may hold (default 6); larger layers run in several waves, smaller ones after the device runs out of memory");
        Add<bool>("--profile-phases", "Run:ProfilePhases", "Time the Hessian sums apart from the calibration forward in report/timings.json (synchronizes the device around every sum)");
        Add<bool>("--skip-eval", "Run:SkipEval", "No held-out perplexity before and after (measured for the built-in model only)");
        Add<string>("--export-format", "Run:ExportFormat", "compressed-tensors or gptq-v1 (default compressed-tensors)");
        var config = new Option<string[]>("--config")
        {
            Description = "Extra configuration: *.json for application settings, *.conf (HOCON) for Akka; later files win",
            AllowMultipleArgumentsPerToken = true,
        };
        command.Options.Add(config);
        command.SetAction((parseResult, cancellation) =>
        {
            var values = flags
                .Where(f => parseResult.GetResult(f.Option) is { Implicit: false })
                .ToDictionary(f => $"MoeQuant:{f.Key}", f => f.Value(parseResult));
            return RunAsync(parseResult, values, parseResult.GetValue(config) ?? [], factory, cancellation);
        });
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parseResult, Dictionary<string, string?> flags, string[] configFiles, IWorkloadFactory factory, CancellationToken cancellation)
    {
        var output = parseResult.InvocationConfiguration.Output;
        var live = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        using var host = QuantizeHost.Build(flags, configFiles, factory, live, out var fileLog);
        var setup = QuantizeHost.Prepare(host);
        output.WriteLine($"save_dir: {setup.Layout.SaveDir}");
        if (setup.Finished)
        {
            // A run stopped between its last layer and its export resumes with the export alone.
            var exported = CheckpointExporter.IsExported(setup.Layout.SaveDir) ? null : Export(factory, setup, output);
            if (exported is null)
            {
                output.WriteLine($"nothing to do: all {setup.Workload.Shape.Layers} layers are quantized already");
            }

            return 0;
        }

        fileLog.Open(setup.Layout.LogsDir);
        output.WriteLine(setup.StartLayer > 0
            ? $"resuming at layer {setup.StartLayer} of {setup.Workload.Shape.Layers} on {setup.Executors.Count} device(s)"
            : $"quantizing {setup.Model.Name}: {setup.Workload.Shape.Layers} layers on {setup.Executors.Count} device(s)");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await host.StartAsync(cancellation).ConfigureAwait(false);
        var outcome = host.Services.GetRequiredService<RunCompletion>().Outcome;
        var display = live
            ? ProgressDisplay.ShowAsync(CliConsole.For(parseResult), host.Services.GetRequiredService<RunProgress>(), outcome)
            : Task.CompletedTask;
        var ended = await Task.WhenAny(outcome, Task.Delay(Timeout.Infinite, cancellation)).ConfigureAwait(false);
        await display.ConfigureAwait(false);
        await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        if (ended != outcome)
        {
            output.WriteLine($"interrupted; finished layers are kept: run again with --resume --save-dir {setup.Layout.SaveDir}");
            return 130;
        }

        var result = await outcome.ConfigureAwait(false);
        var runSeconds = clock.Elapsed.TotalSeconds;
        var progress = host.Services.GetRequiredService<RunProgress>();
        if (!result.Succeeded)
        {
            WriteTimings(setup, progress, runSeconds, exportSeconds: null, output);
            parseResult.InvocationConfiguration.Error.WriteLine($"error: {result.Message}; finished layers are kept: run again with --resume to continue");
            return RunFailedExitCode;
        }

        output.WriteLine($"done: {result.Message}; quantized state in {setup.Layout.LayersDir}");
        clock.Restart();
        var checkpoint = Export(factory, setup, output);
        WriteTimings(setup, progress, runSeconds, clock.Elapsed.TotalSeconds, output);
        output.WriteLine($"quality report: {Path.Combine(setup.Layout.ReportDir, "summary.md")}");
        if (checkpoint is { Format: ExportFormat.CompressedTensors } && setup.Settings.Model.Path is not { Length: > 0 } && !setup.Settings.Run.SkipEval)
        {
            BuiltInPerplexity.Print(checkpoint.Folder, setup.Executors[0].Device, output);
        }

        return 0;
    }

    private static void WriteTimings(RunSetup setup, RunProgress progress, double runSeconds, double? exportSeconds, TextWriter output)
    {
        var path = Path.Combine(setup.Layout.ReportDir, "timings.json");
        output.WriteLine(RunTimings.TryWrite(setup.Layout, progress, setup.Executors, setup.Workload, runSeconds, exportSeconds) is { } error
            ? $"warning: timings not written ({error})"
            : $"timings: {path}");
    }

    /// <summary>Writes the checkpoint from the finished state; an export problem says how to retry without re-quantizing.</summary>
    private static ExportResult? Export(IWorkloadFactory factory, RunSetup setup, TextWriter output)
    {
        try
        {
            var result = factory.Export(setup.Settings, setup.Layout);
            if (result is not null)
            {
                RunExport.Report(result, output);
            }

            return result;
        }
        catch (UserInputException e)
        {
            throw new UserInputException($"{e.Message}; the quantized state is complete: run moequant pack --save-dir {setup.Layout.SaveDir} once this is fixed", e);
        }
    }

    private static string? Invariant(object? value) => value switch
    {
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value?.ToString(),
    };
}
