using System.Text.Json.Serialization;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Report;

/// <summary>One unit as units.json lists it: every field of its <see cref="UnitReport"/>, flattened, plus its type.
/// Losses that are not finite (NaN for an unquantized unit) are null, which JSON can hold.</summary>
public sealed record ReportUnit(
    int Layer,
    string Module,
    string UnitType,
    long Tokens,
    double? Loss,
    double? RtnLoss,
    double Damping,
    int Retries,
    QuantFallback Fallback,
    IReadOnlyList<string> Issues,
    string Sha256,
    string Error)
{
    public static ReportUnit From(UnitReport r) => new(
        r.Unit.Layer,
        r.Unit.Module,
        Report.UnitType.Of(r.Unit.Module),
        r.Tokens,
        Finite(r.Loss),
        Finite(r.RtnLoss),
        r.Damping,
        r.Retries,
        r.Fallback,
        IssueNames(r.Issues),
        r.Sha256,
        r.Error);

    /// <summary>Both losses are known, so the unit counts in means and in the GPTQ/RTN ratio.</summary>
    [JsonIgnore]
    public bool Measured => Loss is not null && RtnLoss is not null;

    /// <summary>The set flags by name, in flag order; empty for none.</summary>
    public static IReadOnlyList<string> IssueNames(QuantIssues issues) =>
        [.. Enum.GetValues<QuantIssues>().Where(f => f != QuantIssues.None && issues.HasFlag(f)).Select(f => f.ToString())];

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;
}
