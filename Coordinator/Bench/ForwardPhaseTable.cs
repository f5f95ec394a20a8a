using System.Globalization;
using System.Text;
using MoeQuant.Model.Forward;

namespace MoeQuant.Coordinator.Bench;

/// <summary>One row of a phase breakdown.</summary>
/// <param name="Phase">As <see cref="ForwardPhaseClock"/> names it.</param>
/// <param name="Milliseconds">Synchronised time.</param>
/// <param name="Flops">Operations of the phase (<see cref="ForwardPhaseCost"/>); 0 when memory-bound or not modelled.</param>
/// <param name="Bytes">Least bytes the phase moves; 0 when not modelled.</param>
/// <param name="Tflops">Achieved TFLOP/s, or null without FLOPs.</param>
/// <param name="GigabytesPerSecond">Achieved GB/s of the least bytes, or null without bytes.</param>
/// <param name="FloorMilliseconds">The phase at <see cref="ForwardPhaseTable.FloorTflops"/> or
/// <see cref="ForwardPhaseTable.FloorGigabytesPerSecond"/>, whichever binds.</param>
internal sealed record PhaseRow(string Phase, double Milliseconds, double Flops, double Bytes, double? Tflops, double? GigabytesPerSecond, double FloorMilliseconds);

/// <summary>Phase times of a layer run beside their work, as rates and a floor, and their tables.</summary>
internal static class ForwardPhaseTable
{
    /// <summary>A dense bf16 product rate an H100 sustains (the Hessian product measured 734 TFLOP/s; README).</summary>
    public const double FloorTflops = 700;

    /// <summary>A streaming rate an H100's HBM3 sustains (a device copy measured 2 660–2 760 GB/s; README).</summary>
    public const double FloorGigabytesPerSecond = 2700;

    public static IReadOnlyList<PhaseRow> Of(IReadOnlyList<PhaseTime> phases, IReadOnlyDictionary<string, PhaseWork> work) =>
    [
        .. phases.Select(p =>
        {
            var w = work.TryGetValue(p.Phase, out var known) ? known : new PhaseWork(0, 0);
            var seconds = p.Milliseconds / 1000.0;
            var floor = Math.Max(w.Flops / (FloorTflops * 1e12), w.Bytes / (FloorGigabytesPerSecond * 1e9)) * 1000.0;
            return new PhaseRow(p.Phase, p.Milliseconds, w.Flops, w.Bytes,
                w.Flops > 0 ? w.Flops / seconds / 1e12 : null, w.Bytes > 0 ? w.Bytes / seconds / 1e9 : null, floor);
        }),
    ];

    public static string Format(string variant, double unclockedMs, IReadOnlyList<PhaseRow> rows)
    {
        var total = rows.Sum(r => r.Milliseconds);
        var text = new StringBuilder();
        text.AppendLine(Invariant($"variant {variant}: {unclockedMs:F2} ms unclocked, {total:F2} ms with the phase clock, floor {rows.Sum(r => r.FloorMilliseconds):F2} ms"));
        text.AppendLine(Invariant($"{"phase",-22} {"ms",9} {"share",7} {"TFLOP/s",9} {"GB/s",8} {"floor ms",9}"));
        foreach (var r in rows)
        {
            text.AppendLine(Invariant($"{r.Phase,-22} {r.Milliseconds,9:F3} {r.Milliseconds / total,7:P1} {Rate(r.Tflops),9} {Rate(r.GigabytesPerSecond),8} {r.FloorMilliseconds,9:F3}"));
        }

        return text.ToString();
    }

    public static string Summary(IReadOnlyList<ForwardVariantResult> results, IReadOnlyList<(string Experts, double Ms)>? transformers)
    {
        var reference = results[0].Milliseconds;
        var text = new StringBuilder();
        text.AppendLine(Invariant($"{"variant",-28} {"ms",9} {"vs reference",13} {"max |Δ|",10} {"re-routed",10}"));
        foreach (var r in results)
        {
            text.AppendLine(r.Error is { } error
                ? Invariant($"{r.Name,-28} failed: {error}")
                : Invariant($"{r.Name,-28} {r.Milliseconds,9:F2} {reference / r.Milliseconds,12:F3}× {r.MaxAbsDiff,10:E2} {r.RoutingMismatchedTokens,10}"));
        }

        foreach (var (experts, ms) in transformers ?? [])
        {
            text.AppendLine(Invariant($"{"transformers " + experts,-28} {ms,9:F2} {reference / ms,12:F3}×"));
        }

        return text.ToString();
    }

    private static string Rate(double? rate) => rate is { } r ? r.ToString(r >= 10 ? "F0" : "F2", CultureInfo.InvariantCulture) : "-";

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
