using System.Text.Json;
using System.Text.Json.Nodes;
using MoeQuant.Coordinator.Journal;
using MoeQuant.GpuNode.Durability;
using MoeQuant.Messages;
using MoeQuant.Model;
using MoeQuant.Model.Config;
using MoeQuant.Model.Forward;

namespace MoeQuant.Coordinator.Packing;

/// <summary>
/// The quantized state of a finished run: every unit state file, after checking that the journal has every layer
/// done and that each layer's summary reports every unit the model and flags call for, each one either quantized with
/// its state file present or left in its original weights.
/// </summary>
internal static class RunState
{
    /// <summary>The unit state files of every main layer, in layer and unit order.</summary>
    /// <exception cref="UserInputException">A layer is not done, or a unit's report or state file is missing; the
    /// message names the layer or unit.</exception>
    public static IReadOnlyList<string> UnitFiles(RunLayout layout, DeepseekV3Config config, bool quantizeOnlyExperts)
    {
        var done = RunJournal.LayersDone(layout);
        if (done < config.NumHiddenLayers)
        {
            throw new UserInputException(
                $"{layout.SaveDir}: the run is incomplete: layer {done} of {config.NumHiddenLayers} is not done; finish it with moequant quantize --resume --save-dir {layout.SaveDir}");
        }

        var files = new List<string>();
        for (var layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            var reports = Reports(layout.LayerFile(layer));
            var units = LinearUnit.ForLayer(config, layer).Where(u => !quantizeOnlyExperts || u.Expert is not null).Select(u => u.InputGroup).Distinct().ToList();
            foreach (var unit in units)
            {
                var id = new UnitId(layer, unit);
                if (!reports.TryGetValue(unit, out var fallback))
                {
                    throw new UserInputException($"{layout.LayerFile(layer)}: layer {layer} has no result for unit {id}; the state belongs to another model or other flags");
                }

                if (fallback == nameof(QuantFallback.Unquantized))
                {
                    continue;
                }

                var file = layout.UnitFile(id);
                files.Add(File.Exists(file) ? file : throw new UserInputException($"{file} is missing: the quantized state of unit {id}"));
            }

            if (reports.Keys.FirstOrDefault(r => !units.Contains(r)) is { } extra)
            {
                throw new UserInputException($"{layout.LayerFile(layer)}: unit {new UnitId(layer, extra)} is not a unit of this model with these flags");
            }
        }

        return files;
    }

    /// <summary>Unit module → its fallback ("None", "MoreDamping", "Unquantized"), from a layer's summary file.</summary>
    private static Dictionary<string, string> Reports(string layerFile)
    {
        try
        {
            var units = JsonNode.Parse(File.ReadAllText(layerFile))?["units"]?.AsArray() ?? throw new JsonException("no \"units\" list");
            return units.ToDictionary(
                u => (string?)u?["unit"]?["module"] ?? throw new JsonException("a unit without unit.module"),
                u => (string?)u?["fallback"] ?? throw new JsonException("a unit without fallback"),
                StringComparer.Ordinal);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            throw new UserInputException($"{layerFile} is damaged ({e.Message})", e);
        }
    }
}
