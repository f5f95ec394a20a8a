using System.Text.Json;
using System.Text.Json.Nodes;
using MoeQuant.Coordinator.Planning;
using MoeQuant.Coordinator.Progress;
using MoeQuant.GpuNode.Durability;
using MoeQuant.GpuNode.Execution;
using MoeQuant.GpuNode.Workload;

namespace MoeQuant.Coordinator.Report;

/// <summary>
/// <c>report/timings.json</c>: where a run's time went, per layer. The coordinator's phases (wall time on the critical
/// path, summed over a layer's calibration waves), each device's busy time by job kind (a GPU is synchronized after every
/// job, so its kernels count), the Hessian sums apart from the calibration forward when phases are profiled, the device
/// memory peak, and the bytes moved between devices; and every time a device ran out of memory, with what the coordinator
/// did about it. It is what scaling over devices is read from.
/// </summary>
internal static class RunTimings
{
    private const double GiB = 1L << 30;
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Writes the file; returns the reason when it cannot be written (a measurement never fails the run).</summary>
    public static string? TryWrite(RunLayout layout, RunProgress progress, IReadOnlyList<IGpuExecutor> executors, ILayerWorkload workload, double totalSeconds, double? exportSeconds)
    {
        try
        {
            Write(layout, progress, executors, workload, totalSeconds, exportSeconds);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
    }

    private static void Write(RunLayout layout, RunProgress progress, IReadOnlyList<IGpuExecutor> executors, ILayerWorkload workload, double totalSeconds, double? exportSeconds)
    {
        var (layerSeconds, phaseSeconds) = progress.Timings();
        var counters = (workload as ICountingWorkload)?.Counters;
        var devices = executors.OfType<DeviceThreadExecutor>().ToList();
        var layers = new JsonArray();
        foreach (var (layer, seconds) in layerSeconds.OrderBy(l => l.Key))
        {
            var phases = new JsonObject();
            foreach (var ((_, phase), value) in phaseSeconds.Where(p => p.Key.Layer == layer).OrderBy(p => p.Key.Phase))
            {
                phases[phase.ToString().ToLowerInvariant()] = Round(value);
            }

            layers.Add(new JsonObject
            {
                ["layer"] = layer,
                ["seconds"] = Round(seconds),
                ["phases"] = phases,
                ["devices"] = new JsonArray([.. devices.Select(d => Device(d, layer, counters))]),
                ["hessian_bytes_between_devices"] = counters?.HessianBytesBetweenDevices.GetValueOrDefault(layer) ?? 0,
                ["weight_bytes_to_devices"] = counters?.WeightBytesToDevices.GetValueOrDefault(layer) ?? 0,
            });
        }

        var report = new JsonObject
        {
            ["devices"] = new JsonArray([.. executors.Select(e => (JsonNode)e.Device)]),
            ["seconds"] = Round(totalSeconds),
            ["export_seconds"] = exportSeconds is { } export ? Round(export) : null,
            ["layers"] = layers,
            ["out_of_memory"] = new JsonArray([.. progress.OutOfMemoryDecisions().Select(OutOfMemory)]),
        };
        Directory.CreateDirectory(layout.ReportDir);
        AtomicFile.WriteAllBytes(Path.Combine(layout.ReportDir, "timings.json"), JsonSerializer.SerializeToUtf8Bytes(report, Indented));
    }

    private static JsonObject Device(DeviceThreadExecutor executor, int layer, WorkloadCounters? counters)
    {
        var busy = new JsonObject();
        foreach (var ((_, kind), (seconds, jobs)) in executor.Stats.Busy.Where(b => b.Key.Layer == layer).OrderBy(b => b.Key.Kind))
        {
            busy[kind.ToString().ToLowerInvariant()] = new JsonObject { ["seconds"] = Round(seconds), ["jobs"] = jobs };
        }

        var hessians = counters?.HessianSeconds.GetValueOrDefault((layer, executor.Device));
        return new JsonObject
        {
            ["device"] = executor.Device,
            ["busy"] = busy,
            ["hessian_seconds"] = hessians is > 0 ? Round(hessians.Value) : null,
            ["peak_memory_gib"] = executor.Stats.PeakBytes.TryGetValue(layer, out var peak) ? Round(peak / GiB) : null,
        };
    }

    private static JsonObject OutOfMemory(OutOfMemoryDecision decision)
    {
        var failure = decision.Failure;
        return new JsonObject
        {
            ["layer"] = failure.Plan.Layer,
            ["attempt"] = failure.Plan.Attempt,
            ["device"] = failure.Device.Name,
            ["phase"] = failure.Phase.ToString().ToLowerInvariant(),
            ["wave"] = failure.Wave,
            ["subject"] = failure.Subject,
            ["used_gib"] = failure.UsedBytes is { } used ? Round(used / GiB) : null,
            ["total_gib"] = failure.TotalBytes is { } total ? Round(total / GiB) : null,
            ["wave_bytes_before"] = decision.FromBytes,
            ["wave_bytes_after"] = decision.ToBytes,
            ["outcome"] = decision.Fatal is not null ? "stopped" : decision.Shrinks ? "smaller waves" : "redone",
            ["error"] = failure.Error,
        };
    }

    private static double Round(double value) => Math.Round(value, 3, MidpointRounding.AwayFromZero);
}
