using System.CommandLine;
using MoeQuant.Coordinator.Evaluation;
using MoeQuant.Model.Evaluation;

namespace MoeQuant.Coordinator.Cli;

/// <summary><c>moequant eval</c>: perplexity (mean NLL over every predicted token) of an original or fake-quantized checkpoint
/// (packed ones once their reader plugs into <see cref="EvalWeightSources"/>), on a dataset or on JSON Lines of token ids.</summary>
public static class EvalCommand
{
    /// <summary>Exit code of a run stopped by Ctrl+C.</summary>
    public const int InterruptedExitCode = 130;

    public static Command Create()
    {
        var command = new Command("eval", "Perplexity of a checkpoint (the built-in model on its held-out text when given no model and no data)");
        Option<T> Add<T>(string kebab, string description)
        {
            var option = new Option<T>(kebab, "--" + kebab[2..].Replace('-', '_')) { Description = description };
            command.Options.Add(option);
            return option;
        }

        var model = Add<string?>("--model-name-or-path", "Checkpoint folder: FP8, BF16 or fake-quantized (default: the built-in model)");
        var dataset = Add<string?>("--dataset-name-or-path", "Dataset name or path, sampled and tokenized as calibration data is");
        var inputIds = Add<string?>("--input-ids", "JSON Lines file, each line a JSON array of token ids; every line is evaluated whole");
        var samples = Add<int?>("--num-samples", $"Sequences drawn from the dataset (default {EvalRequest.DefaultNumSamples})");
        var length = Add<int?>("--max-sequence-length", $"Dataset sequences are cut to this many tokens (default {EvalRequest.DefaultMaxSequenceLength})");
        var seed = Add<int?>("--seed", "Dataset sampling seed (default 0)");
        var dtype = Add<string?>("--dtype", $"bfloat16 or float32 (default {EvalRequest.DefaultDtype})");
        var devices = Add<string?>("--devices", "Devices as for quantize; eval runs on the first (default: GPU 0, else cpu)");
        var json = new Option<bool>("--json") { Description = "Print one JSON object (mean_nll, perplexity, tokens, ...) instead of a line" };
        command.Options.Add(json);
        command.SetAction((parseResult, cancellation) => RunAsync(parseResult, new EvalRequest(
            parseResult.GetValue(model), parseResult.GetValue(dataset), parseResult.GetValue(inputIds), parseResult.GetValue(samples),
            parseResult.GetValue(length), parseResult.GetValue(seed), parseResult.GetValue(dtype), parseResult.GetValue(devices)),
            parseResult.GetValue(json), cancellation));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parseResult, EvalRequest request, bool json, CancellationToken cancellation)
    {
        var output = parseResult.InvocationConfiguration.Output;
        var error = parseResult.InvocationConfiguration.Error;
        // Progress overwrites one line of a terminal; in a pipe or a test it would only be noise.
        var live = ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected;
        EvalReport report;
        try
        {
            report = await EvalRunner.RunAsync(request, live ? p => error.Write(Progress(p)) : null,
                warning => error.WriteLine($"warning: {warning}"), cancellation).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            error.WriteLine("interrupted");
            return InterruptedExitCode;
        }
        finally
        {
            if (live)
            {
                error.Write("\r\u001b[K");
            }
        }

        output.WriteLine(json ? report.ToJson() : $"{(request.ModelPath is null ? "built-in model " : "")}{report.Model}: {report.ToLine()}");
        return 0;
    }

    private static string Progress(PerplexityProgress p) =>
        $"\rpass {p.Pass}/{p.Passes}: layer {p.LayersDone}/{p.Layers} ({p.TokensDone}/{p.Tokens} tokens done)\u001b[K";
}
