using System.Globalization;
using System.Text;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Report;

/// <summary>summary.md: one table row per layer, the worst units, and the units left unquantized. Numbers are
/// formatted with the invariant culture and lines end in "\n", so the bytes do not depend on the machine.</summary>
internal static class ReportMarkdown
{
    private const int Worst = 10;

    public static string Write(ReportData data)
    {
        var md = new StringBuilder();
        md.Append("# Quality report\n\n");
        md.Append(CultureInfo.InvariantCulture, $"{data.Layers} committed layer(s) (0 to {data.Layers - 1}), {data.Units.Count} units. ");
        md.Append("Proxy loss: tr((W−Q) H (W−Q)ᵀ) / tr(W H Wᵀ) on the calibration data, for GPTQ and for round-to-nearest (RTN) ");
        md.Append("with the same scales; means, maxima and GPTQ/RTN are over the units with both losses known. ");
        md.Append("Per unit type: `loss-by-layer.png`; every unit: `units.json`.\n\n");

        md.Append("## Layers\n\n");
        md.Append("| layer | units | tokens per unit | mean GPTQ loss | max GPTQ loss | mean RTN loss | GPTQ/RTN | retries | fallbacks | unquantized | issues |\n");
        md.Append("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
        foreach (var l in data.ByLayer)
        {
            md.Append(CultureInfo.InvariantCulture, $"| {l.Layer} | {l.Units} | {Tokens(l.TokensMin)}–{Tokens(l.TokensMax)} | {Loss(l.MeanLoss)} | {Loss(l.MaxLoss)} | {Loss(l.MeanRtnLoss)} | {Ratio(l.GptqOverRtn)} | {l.Retries} | {l.Fallbacks} | {l.Unquantized} | {Issues(l)} |\n");
        }

        md.Append(CultureInfo.InvariantCulture, $"\n## Worst {Worst} units by GPTQ loss\n\n");
        md.Append("| # | unit | type | tokens | GPTQ loss | RTN loss | GPTQ/RTN | damping | retries |\n");
        md.Append("|---:|---|---|---:|---:|---:|---:|---:|---:|\n");
        var worst = data.Units.Where(u => u.Measured).OrderByDescending(u => u.Loss).Take(Worst).ToList();
        for (var i = 0; i < worst.Count; i++)
        {
            var u = worst[i];
            md.Append(CultureInfo.InvariantCulture, $"| {i + 1} | `{Name(u)}` | {u.UnitType} | {Tokens(u.Tokens)} | {Loss(u.Loss)} | {Loss(u.RtnLoss)} | {Ratio(u.RtnLoss > 0 ? u.Loss / u.RtnLoss : null)} | {u.Damping.ToString("G4", CultureInfo.InvariantCulture)} | {u.Retries} |\n");
        }

        md.Append("\n## Unquantized units\n\n");
        var unquantized = data.Units.Where(u => u.Fallback == QuantFallback.Unquantized).ToList();
        if (unquantized.Count == 0)
        {
            md.Append("No unit was left unquantized.\n");
        }
        else
        {
            md.Append("These units keep their original weights: every quantization try failed.\n\n");
            foreach (var u in unquantized)
            {
                md.Append(CultureInfo.InvariantCulture, $"- `{Name(u)}` after {u.Retries} retries (damping {u.Damping.ToString("G4", CultureInfo.InvariantCulture)}): {OneLine(u.Error)}\n");
            }
        }

        return md.ToString();
    }

    private static string Name(ReportUnit u) => new UnitId(u.Layer, u.Module).ToString();

    private static string Tokens(long tokens) => tokens.ToString("N0", CultureInfo.InvariantCulture);

    private static string Loss(double? loss) => loss?.ToString("0.000e+0", CultureInfo.InvariantCulture) ?? "n/a";

    private static string Ratio(double? ratio) => ratio?.ToString("0.000", CultureInfo.InvariantCulture) ?? "n/a";

    private static string Issues(GroupStats stats) =>
        stats.Issues.Count == 0 ? "none" : string.Join(", ", stats.Issues.Select(i => $"{i.Key} {i.Value}"));

    // Kernel errors may span lines or hold '|', which would break the list item or a table.
    private static string OneLine(string text) => text.Length == 0 ? "(no error recorded)" : text.ReplaceLineEndings(" ").Replace("|", "\\|", StringComparison.Ordinal);
}
