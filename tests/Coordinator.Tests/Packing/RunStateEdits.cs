using System.Security.Cryptography;
using System.Text.Json.Nodes;
using static MoeQuant.Coordinator.Tests.Packing.ExportAssertions;

namespace MoeQuant.Coordinator.Tests.Packing;

/// <summary>Changes to a copied save_dir that a real run could have left: units that fell back, a run of routed
/// experts only. The journal's hash of each edited layer summary is updated, so the layers still count as done.</summary>
internal static class RunStateEdits
{
    /// <summary>Leaves only the routed experts' results, as a --quantize-only-experts run writes them.</summary>
    public static void KeepOnlyExperts(string saveDir)
    {
        var runFile = Path.Combine(saveDir, "run.json");
        var flags = JsonNode.Parse(File.ReadAllText(runFile))!;
        flags["quantize-only-experts"] = "true";
        File.WriteAllText(runFile, flags.ToJsonString());
        for (var layer = 0; layer < TinyMainLayers; layer++)
        {
            EditLayer(saveDir, layer, units =>
            {
                foreach (var unit in units.Where(u => !((string)u!["unit"]!["module"]!).StartsWith("mlp.experts.", StringComparison.Ordinal)).ToList())
                {
                    File.Delete(Path.Combine(saveDir, "layers", $"{layer:D3}", $"{(string)unit!["unit"]!["module"]!}.safetensors"));
                    units.Remove(unit);
                }
            });
        }
    }

    /// <summary>Turns a unit into one whose retries all failed: its report says Unquantized and its state file is gone.</summary>
    public static void MarkUnquantized(string saveDir, int layer, string unit)
    {
        EditLayer(saveDir, layer, units => units.Single(u => (string?)u!["unit"]!["module"] == unit)!["fallback"] = "Unquantized");
        File.Delete(Path.Combine(saveDir, "layers", $"{layer:D3}", $"{unit}.safetensors"));
    }

    /// <summary>Changes a layer summary's unit list, and the journal's hash of it so that the layer still counts as done.</summary>
    private static void EditLayer(string saveDir, int layer, Action<JsonArray> edit)
    {
        var layerFile = Path.Combine(saveDir, "layers", $"{layer:D3}", "layer.json");
        var summary = JsonNode.Parse(File.ReadAllText(layerFile))!;
        edit(summary["units"]!.AsArray());
        File.WriteAllText(layerFile, summary.ToJsonString());
        var sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(layerFile)));
        var journal = Path.Combine(saveDir, "journal.jsonl");
        File.WriteAllLines(journal, File.ReadAllLines(journal).Select(l => l.Contains($"\"event\":\"layer\",\"layer\":{layer},", StringComparison.Ordinal)
            ? $"{{\"event\":\"layer\",\"layer\":{layer},\"sha256\":\"{sha}\"}}"
            : l));
    }
}
