using System.Text.Json;
using System.Text.Json.Nodes;
using MoeQuant.Kernels.Gptq;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Coordinator.Bench;

/// <summary>
/// <c>bench gptq --batch N --stages</c>: where the time of a batched GPTQ call goes. Each call is timed with a
/// <see cref="GptqStageTimer"/> (device synchronized at every stage entry, so a stage is charged its own kernels and the
/// host time to queue them), three times; the repetition with the median total is recorded, in ms per matrix and per
/// item and as a share of the synchronized total, beside the unsynchronized time of the same call.
/// </summary>
internal static class GptqBatchStages
{
    private const int Repetitions = 3;

    /// <summary>One batched call's stages: milliseconds of the whole batch per stage, in order of first entry.</summary>
    internal sealed record Breakdown(int Items, double TotalMilliseconds, IReadOnlyList<(GptqStage Stage, double Milliseconds, int Entries)> Stages);

    /// <summary>Times the stages of <c>Gptq.QuantizeBatch(items, options, settings)</c> and records a <c>gptq-batch-stages</c> line.</summary>
    /// <param name="recorder">Where the line goes.</param>
    /// <param name="device">The items' device.</param>
    /// <param name="items">The batch, as measured without stages.</param>
    /// <param name="options">GPTQ options.</param>
    /// <param name="settings">The workspace budget used for the unsynchronized measurement.</param>
    /// <param name="unsynchronizedMs">The same call's time without stage synchronization.</param>
    /// <param name="inputs">What the measurement was of (recorded with the chunking added).</param>
    public static Breakdown Measure(BenchRecorder recorder, Device device, List<GptqBatchItem> items, GptqOptions options, GptqBatchSettings settings, double unsynchronizedMs, object inputs)
    {
        var timer = new GptqStageTimer(device);
        var runs = new List<(double Total, double Unattributed, long? Start, long? Peak, IReadOnlyList<(GptqStage Stage, double Milliseconds, int Entries)> Stages)>();
        for (var r = 0; r < Repetitions; r++)
        {
            timer.Start();
            var results = Gptq.QuantizeBatch(items, options, settings with { Stages = timer.Enter });
            timer.Stop();
            foreach (var result in results.SelectMany(x => x))
            {
                result.Dispose();
            }

            runs.Add((timer.TotalMilliseconds, timer.UnattributedMilliseconds, timer.StartDeviceUsedBytes, timer.PeakDeviceUsedBytes, timer.Stages));
        }

        var median = runs.OrderBy(x => x.Total).ElementAt(Repetitions / 2);
        var matrices = items.Count * items[0].Weights.Count;
        long[] rows = [.. items[0].Weights.Select(w => w.Weight.shape[0])];
        var columns = items[0].Hessian.Columns;
        var chunk = settings.WorkspaceBytes is { } budget
            ? GptqBatchWorkspace.ItemsPerChunk(items.Count, rows, columns, options.GroupSize, budget)
            : items.Count;
        var described = Describe(inputs);
        described["chunkItems"] = chunk;
        described["workspaceBudgetBytes"] = settings.WorkspaceBytes;
        described["estimatedBytesPerChunk"] = GptqBatchWorkspace.EstimateBytes(chunk, rows, columns, options.GroupSize);
        described["timing"] = $"GptqStageTimer: device synchronized at every stage entry; median of {Repetitions} calls by total";
        recorder.Record(
            "gptq-batch-stages",
            described,
            new
            {
                unsynchronizedMsPerMatrix = unsynchronizedMs / matrices,
                stagedMsPerMatrix = median.Total / matrices,
                synchronizationOverhead = (median.Total / unsynchronizedMs) - 1,
                unattributedMs = median.Unattributed,
                startDeviceUsedBytes = median.Start,
                peakDeviceUsedBytes = median.Peak,
                stages = median.Stages.Select(s => new
                {
                    stage = s.Stage.ToString(),
                    msPerMatrix = s.Milliseconds / matrices,
                    msPerItem = s.Milliseconds / items.Count,
                    share = s.Milliseconds / median.Total,
                    entries = s.Entries,
                }).ToArray(),
            });
        return new Breakdown(items.Count, median.Total, median.Stages);
    }

    /// <summary>Records <c>gptq-batch-expert-stages</c>: per stage, ms per expert of the tied gate+up call and the down call together.</summary>
    public static void RecordExpert(BenchRecorder recorder, object inputs, Breakdown gateUp, Breakdown down)
    {
        var order = gateUp.Stages.Select(s => s.Stage).Concat(down.Stages.Select(s => s.Stage)).Distinct().ToList();
        double PerExpert(Breakdown b, GptqStage stage) => b.Stages.Where(s => s.Stage == stage).Sum(s => s.Milliseconds) / b.Items;
        var total = (gateUp.TotalMilliseconds / gateUp.Items) + (down.TotalMilliseconds / down.Items);
        var described = Describe(inputs);
        described["timing"] = "GptqStageTimer (device synchronized at every stage entry); gptq-batch-stages lines give each call";
        recorder.Record(
            "gptq-batch-expert-stages",
            described,
            new
            {
                stagedMsPerExpert = total,
                stages = order.Select(stage => new
                {
                    stage = stage.ToString(),
                    msPerExpert = PerExpert(gateUp, stage) + PerExpert(down, stage),
                    gateUpMsPerExpert = PerExpert(gateUp, stage),
                    downMsPerExpert = PerExpert(down, stage),
                    share = (PerExpert(gateUp, stage) + PerExpert(down, stage)) / total,
                }).ToArray(),
            });
    }

    /// <summary>A JSON object of <paramref name="value"/>'s properties (for adding fields to an anonymous object).</summary>
    internal static JsonObject Describe(object value) => JsonSerializer.SerializeToNode(value)!.AsObject();
}
