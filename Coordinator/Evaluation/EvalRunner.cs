using System.Diagnostics;
using MoeQuant.Coordinator.Hosting;
using MoeQuant.GpuNode.Workload.Torch;
using MoeQuant.Model;
using MoeQuant.Model.Evaluation;
using MoeQuant.Model.TinyModel;
using TorchSharp;

namespace MoeQuant.Coordinator.Evaluation;

/// <summary>What <c>moequant eval</c> does: checks the flags, opens the model, reads the data, runs the evaluator.</summary>
public static class EvalRunner
{
    /// <summary>Runs the evaluation; the forward pass runs on the calling thread after the data is read.</summary>
    /// <param name="request">The flags.</param>
    /// <param name="progress">Called after each decoder layer of each pass.</param>
    /// <param name="warn">Receives each warning about the data (skipped lines, fewer samples than asked).</param>
    /// <param name="cancellation">Checked between layers; a cancelled run throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="UserInputException">A flag, the model or the data is not usable; the message says which.</exception>
    public static async Task<EvalReport> RunAsync(EvalRequest request, Action<PerplexityProgress>? progress, Action<string> warn, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(warn);

        // 1) flags, before any file is opened. With no model and no data, the built-in model on its held-out text.
        if (request is { ModelPath: null, InputIds: null, Dataset: null, NumSamples: null, MaxSequenceLength: null, Seed: null })
        {
            request = request with { InputIds = BuiltInModel.HeldOutIds };
        }

        var (dtypeName, dtype) = Dtype(request.Dtype ?? EvalRequest.DefaultDtype);
        CheckDataFlags(request);
        var (deviceName, device) = FirstDevice(request.Devices);

        // 2) the model: its config and the reader of its weights, every tensor checked.
        using var model = EvalWeightSources.Open(request.ModelPath ?? BuiltInModel.Folder);

        // 3) the data.
        var data = request.InputIds is { } inputIds
            ? TokenIdLines.Read(inputIds, model.Config.VocabSize)
            : await DatasetSequences.PrepareAsync(
                new Model.Calibration.CalibrationOptions(request.Dataset!, request.NumSamples ?? EvalRequest.DefaultNumSamples,
                    request.MaxSequenceLength ?? EvalRequest.DefaultMaxSequenceLength, request.Seed ?? 0),
                model.Folder, model.Config.VocabSize, cancellation).ConfigureAwait(false);
        foreach (var warning in data.Warnings)
        {
            warn(warning);
        }

        // 4) the forward passes, timed alone.
        var stopwatch = Stopwatch.StartNew();
        var result = PerplexityEvaluator.Evaluate(model.Config, model.Weights, data.Sequences, new PerplexityOptions(device, dtype), p =>
        {
            cancellation.ThrowIfCancellationRequested();
            progress?.Invoke(p);
        });
        var seconds = stopwatch.Elapsed.TotalSeconds;
        return new EvalReport(result.MeanNll, result.Perplexity, result.Tokens, result.Sequences, data.Skipped, dtypeName, deviceName,
            model.Folder, model.Kind.ToString().ToLowerInvariant(), data.Source, seconds, result.Tokens / seconds);
    }

    private static (string Name, torch.ScalarType Type) Dtype(string name) => name switch
    {
        "bfloat16" => (name, torch.ScalarType.BFloat16),
        "float32" => (name, torch.ScalarType.Float32),
        _ => throw new UserInputException($"--dtype {name}: eval computes in bfloat16 or float32"),
    };

    private static void CheckDataFlags(EvalRequest request)
    {
        if (request.InputIds is not null)
        {
            if (request.Dataset is not null)
            {
                throw new UserInputException("give --input-ids or --dataset-name-or-path, not both");
            }

            if (request.NumSamples is not null || request.MaxSequenceLength is not null || request.Seed is not null)
            {
                throw new UserInputException("--num-samples, --max-sequence-length and --seed apply to --dataset-name-or-path; "
                    + "--input-ids lines are used whole");
            }

            return;
        }

        if (request.Dataset is null)
        {
            throw new UserInputException("give the evaluation data: --dataset-name-or-path NAME|PATH or --input-ids FILE.jsonl");
        }

        if (request.NumSamples < 1 || request.MaxSequenceLength < 2 || request.Seed < 0)
        {
            throw new UserInputException("--num-samples must be at least 1, --max-sequence-length at least 2 and --seed not negative");
        }
    }

    private static (string Name, torch.Device Device) FirstDevice(string? devices)
    {
        var first = DeviceList.Parse(devices, torch.cuda.is_available() ? torch.cuda.device_count() : 0)[0];
        // Logical devices (cpu:N, cuda:0/1) exist for multi-device plans; eval runs on the physical device under the first.
        var device = TorchDevices.Of(first);
        return (device.type == DeviceType.CUDA ? first : "cpu", device);
    }
}
