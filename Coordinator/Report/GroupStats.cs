using System.Text.Json.Serialization;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Report;

/// <summary>Figures over a set of units: a whole layer (<see cref="UnitType"/> null) or one unit type of a layer.
/// Loss figures are over the measured units only (both losses finite); they are null when there is none.</summary>
/// <param name="Layer">The layer.</param>
/// <param name="UnitType">The unit type; null for the whole layer.</param>
/// <param name="Units">Units in the set.</param>
/// <param name="Measured">Units with both losses known.</param>
/// <param name="TokensMin">Fewest calibration tokens a unit saw (0 for a layer without units).</param>
/// <param name="TokensMax">Most calibration tokens a unit saw (0 for a layer without units).</param>
/// <param name="MeanLoss">Mean GPTQ proxy loss.</param>
/// <param name="MaxLoss">Largest GPTQ proxy loss.</param>
/// <param name="MeanRtnLoss">Mean round-to-nearest proxy loss over the same units.</param>
/// <param name="GptqOverRtn"><paramref name="MeanLoss"/> / <paramref name="MeanRtnLoss"/>; null when the latter is not positive.</param>
/// <param name="Retries">Kernel retries, summed.</param>
/// <param name="Fallbacks">Units whose retry policy had to fall back (more damping or unquantized).</param>
/// <param name="Unquantized">Units left with their original weights.</param>
/// <param name="Issues">Units per Hessian issue, by issue name; issues no unit had are left out.</param>
public sealed record GroupStats(
    int Layer,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? UnitType,
    int Units,
    int Measured,
    long TokensMin,
    long TokensMax,
    double? MeanLoss,
    double? MaxLoss,
    double? MeanRtnLoss,
    double? GptqOverRtn,
    int Retries,
    int Fallbacks,
    int Unquantized,
    SortedDictionary<string, int> Issues)
{
    /// <summary>Figures over <paramref name="units"/>, summed in the order given (report order), so they are
    /// reproducible to the bit.</summary>
    public static GroupStats Of(int layer, string? unitType, IReadOnlyList<ReportUnit> units)
    {
        var measured = units.Where(u => u.Measured).ToList();
        double? meanLoss = measured.Count > 0 ? measured.Sum(u => u.Loss!.Value) / measured.Count : null;
        double? meanRtn = measured.Count > 0 ? measured.Sum(u => u.RtnLoss!.Value) / measured.Count : null;
        return new GroupStats(
            layer,
            unitType,
            units.Count,
            measured.Count,
            units.Count > 0 ? units.Min(u => u.Tokens) : 0,
            units.Count > 0 ? units.Max(u => u.Tokens) : 0,
            meanLoss,
            measured.Count > 0 ? measured.Max(u => u.Loss!.Value) : null,
            meanRtn,
            meanRtn > 0 ? meanLoss / meanRtn : null,
            units.Sum(u => u.Retries),
            units.Count(u => u.Fallback != QuantFallback.None),
            units.Count(u => u.Fallback == QuantFallback.Unquantized),
            new SortedDictionary<string, int>(
                units.SelectMany(u => u.Issues).GroupBy(i => i).ToDictionary(g => g.Key, g => g.Count()),
                StringComparer.Ordinal));
    }
}
