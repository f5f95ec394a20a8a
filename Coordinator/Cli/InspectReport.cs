using System.Globalization;
using System.Text.Json;
using MoeQuant.Model.Inspection;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MoeQuant.Coordinator.Cli;

/// <summary>Renders a <see cref="CheckpointSummary"/> as Spectre.Console tables.</summary>
internal static class InspectReport
{
    // Enough names to see a pattern (a whole layer missing, a dtype off everywhere) without flooding the screen.
    private const int ShownProblems = 5;

    public static void Write(CheckpointSummary summary, string source, TextWriter output)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output) });
        console.Write(Overview(summary, source));
        console.Write(Breakdown("kind", summary.ByKind.Select(k => (Label(k.Kind.ToString()), k.Totals))));
        console.Write(Breakdown("dtype", summary.ByDtype.Select(d => (d.Dtype, d.Totals))));
        console.Write(Layers(summary));
    }

    private static Table Overview(CheckpointSummary s, string source)
    {
        var table = NewTable(source, 2, "", "");
        table.ShowHeaders = false;
        var model = s.ModelType is null ? s.Architecture : $"{s.Architecture} (model_type {s.ModelType})";
        var experts = s.RoutedExperts is { } routed
            ? $"{routed} routed ({s.ExpertsPerToken} per token), {s.SharedExperts} shared"
            : "none (dense model)";
        var fp8 = s.IsFp8
            ? $"yes: {s.Fp8Weights} F8_E4M3 weights, {s.Fp8Scales} scales, blocks [{string.Join(", ", s.Fp8BlockSize)}]"
            : "no";
        AddRow(table, "architecture", model);
        AddRow(table, "layers", $"{s.DenseLayers + s.MoeLayers} ({s.DenseLayers} dense, {s.MoeLayers} MoE) + {s.MtpLayers} MTP");
        AddRow(table, "experts", experts);
        AddRow(table, "hidden size", Count(s.HiddenSize));
        AddRow(table, "vocabulary", Count(s.VocabSize));
        AddRow(table, "dtypes", string.Join(", ", s.ByDtype.Select(d => d.Dtype)));
        AddRow(table, "FP8", fp8);
        AddRow(table, "tensors", Count(s.Total.Tensors));
        AddRow(table, "parameters", Count(s.Total.Parameters));
        AddRow(table, "bytes", $"{Count(s.Total.Bytes)} ({Size(s.Total.Bytes)})");
        AddRow(table, "matches config", Check(s.Check));
        return table;
    }

    private static Table Breakdown(string by, IEnumerable<(string Label, Totals Totals)> rows)
    {
        var table = NewTable($"by {by}", 1, by, "tensors", "parameters", "size");
        foreach (var (label, totals) in rows)
        {
            AddRow(table, label, Count(totals.Tensors), Count(totals.Parameters), Size(totals.Bytes));
        }

        return table;
    }

    private static Table Layers(CheckpointSummary s)
    {
        var table = NewTable("by layer", 2, "layer", "role", "experts", "tensors", "parameters", "size");
        foreach (var layer in s.ByLayer)
        {
            var experts = layer.ExpertsFound is { } found ? Count(found) : "";
            AddRow(table, layer.Layer, Label(layer.Role.ToString()), experts,
                Count(layer.Totals.Tensors), Count(layer.Totals.Parameters), Size(layer.Totals.Bytes));
        }

        return table;
    }

    private static string Check(TensorCheck check)
    {
        var problems = new[] { ("missing", check.Missing), ("unexpected", check.Unexpected), ("mismatched", check.Mismatched) }
            .Where(p => !p.Item2.IsEmpty)
            .Select(p => $"{p.Item2.Length} {p.Item1}: {string.Join("; ", p.Item2.Take(ShownProblems))}{(p.Item2.Length > ShownProblems ? "; ..." : "")}")
            .ToList();
        return problems.Count == 0 ? "yes, every expected tensor with its dtype and shape" : string.Join("\n", problems);
    }

    // Columns after the first textColumns hold numbers and are right-aligned.
    private static Table NewTable(string title, int textColumns, params string[] columns)
    {
        var table = new Table { Title = new TableTitle(Markup.Escape(title)), Border = TableBorder.Rounded };
        foreach (var (column, i) in columns.Select((c, i) => (c, i)))
        {
            var tableColumn = new TableColumn(Markup.Escape(column));
            table.AddColumn(i < textColumns ? tableColumn : tableColumn.RightAligned());
        }

        return table;
    }

    // Tensor names and shapes hold '[' and ']', which markup would parse; cells are plain text.
    private static void AddRow(Table table, params string[] cells) =>
        table.AddRow(cells.Select(c => (IRenderable)new Text(c)));

    // The same spelling as the JSON output ("routed_experts", "lm_head").
    private static string Label(string enumName) => JsonNamingPolicy.SnakeCaseLower.ConvertName(enumName);

    private static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    // Exact byte counts are in the JSON output; tables stay narrow with binary units.
    private static string Size(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        var unit = 0;
        var scaled = (double)bytes;
        for (; scaled >= 1024 && unit < units.Length - 1; unit++)
        {
            scaled /= 1024;
        }

        return unit == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{scaled:F1} {units[unit]}");
    }
}
