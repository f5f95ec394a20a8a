using System.Text.Json.Serialization;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Report;

/// <summary>Everything the report shows, as units.json holds it: figures per layer, per layer and unit type, and every
/// unit. Each list is sorted (layer, then unit type or module name, ordinal), so the same layers give the same bytes.</summary>
/// <param name="Layers">Committed layers covered: 0 to <paramref name="Layers"/> − 1.</param>
/// <param name="ByLayer">One entry per layer.</param>
/// <param name="ByType">One entry per layer and unit type present in it.</param>
/// <param name="Units">Every unit.</param>
public sealed record ReportData(int Layers, IReadOnlyList<GroupStats> ByLayer, IReadOnlyList<GroupStats> ByType, IReadOnlyList<ReportUnit> Units)
{
    /// <param name="layers">Each layer's unit reports, layer 0 first.</param>
    public static ReportData From(IReadOnlyList<IReadOnlyList<UnitReport>> layers)
    {
        var units = layers
            .SelectMany(l => l)
            .Select(ReportUnit.From)
            .OrderBy(u => u.Layer)
            .ThenBy(u => u.Module, StringComparer.Ordinal)
            .ToList();
        var byLayer = Enumerable.Range(0, layers.Count)
            .Select(l => GroupStats.Of(l, null, units.Where(u => u.Layer == l).ToList()))
            .ToList();
        var byType = units
            .GroupBy(u => (u.Layer, u.UnitType))
            .OrderBy(g => g.Key.Layer)
            .ThenBy(g => g.Key.UnitType, StringComparer.Ordinal)
            .Select(g => GroupStats.Of(g.Key.Layer, g.Key.UnitType, g.ToList()))
            .ToList();
        return new ReportData(layers.Count, byLayer, byType, units);
    }

    /// <summary>Unit types in the report, sorted (ordinal).</summary>
    [JsonIgnore]
    public IReadOnlyList<string> UnitTypes => [.. ByType.Select(t => t.UnitType!).Distinct().Order(StringComparer.Ordinal)];
}
