using System.Text.Json;

namespace MoeQuant.Coordinator.Cli;

/// <summary>One JSON style for every `--json` output: camelCase, indented.</summary>
internal static class CliJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { WriteIndented = true };
}
