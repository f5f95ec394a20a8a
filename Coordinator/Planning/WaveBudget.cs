using System.Globalization;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Planning;

/// <summary>What the coordinator does about device work of a layer that ran out of memory.</summary>
/// <param name="Failure">The device's report.</param>
/// <param name="FromBytes">The wave budget the failed attempt was planned with.</param>
/// <param name="ToBytes">The budget to re-plan with: smaller when the failed work held a wave's Hessians, the same when
/// it held none (load, commit), where smaller waves would not help.</param>
/// <param name="Fatal">Why the run cannot go on, when a wave of one unit ran out of memory; null otherwise.</param>
/// <param name="Summary">One line for the log and the re-plan reason.</param>
public sealed record OutOfMemoryDecision(DeviceOutOfMemory Failure, long FromBytes, long ToBytes, string? Fatal, string Summary)
{
    /// <summary>Whether the layer is re-planned in smaller waves.</summary>
    public bool Shrinks => ToBytes < FromBytes;
}

/// <summary>
/// Shrinks the wave budget (<see cref="LayerPlanner"/>) when a wave runs out of device memory. The new budget is half the
/// Hessian bytes the failed wave held (at most half the old budget): every wave of more than one unit then holds at most
/// half of what failed, and a re-plan that would repeat the failed wave is impossible. Halving stops at waves of one
/// unit; a single unit that does not fit fails the run, since no plan can split it.
/// </summary>
public static class WaveBudget
{
    private const string FreeMemoryHint = "resume with --offload-activations (calibration activations stay off the device), "
        + "or start over with a shorter --max-sequence-length (fewer tokens per calibration pass)";

    public static OutOfMemoryDecision Decide(DeviceOutOfMemory failure, LayerPlan plan, RunShape shape, long budget)
    {
        var where = $"{failure.Device.Name} ran out of memory in {Phase(failure.Phase)} of layer {plan.Id.Layer}";
        if (failure.Wave is not { } wave)
        {
            return new OutOfMemoryDecision(failure, budget, budget, null,
                $"{where} ({failure.Subject}{Memory(failure)}); no Hessian is resident then, so smaller waves do not help: {FreeMemoryHint}");
        }

        var units = plan.Units.Where(u => u.Wave == wave).Select(u => u.Unit).ToList();
        var bytes = units.Sum(u => shape.HessianBytes(plan.Id.Layer, shape.Units[plan.Id.Layer].IndexOf(u)));
        if (units.Count <= 1)
        {
            var unit = units.Count == 1 ? units[0].ToString() : "(none)";
            var fatal = $"unit {unit} does not fit on {failure.Device.Name} on its own: out of memory in {Phase(failure.Phase)} of wave {wave}, "
                + $"which holds only its {Size(bytes)} fp32 Hessian{Memory(failure)} ({failure.Error}); free device memory for it: {FreeMemoryHint}";
            return new OutOfMemoryDecision(failure, budget, budget, fatal, fatal);
        }

        var to = Math.Max(1, Math.Min(budget, bytes) / 2);
        return new OutOfMemoryDecision(failure, budget, to, null,
            $"{where}, wave {wave} ({units.Count} units, {Size(bytes)} of Hessians{Memory(failure)}): wave budget cut from {Size(budget)} to {Size(to)} for this and later layers");
    }

    /// <summary>Bytes for people: "256 B", "1.5 MiB", "6.00 GiB".</summary>
    public static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F2} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):F1} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 10):F1} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };

    private static string Phase(WorkPhase phase) => phase.ToString().ToLowerInvariant();

    private static string Memory(DeviceOutOfMemory failure) => failure is { UsedBytes: { } used, TotalBytes: { } total }
        ? string.Create(CultureInfo.InvariantCulture, $"; {used / (double)(1L << 30):F1} of {total / (double)(1L << 30):F1} GiB in use")
        : "";
}
