using System.Text;
using MoeQuant.Coordinator.Journal;
using MoeQuant.GpuNode.Durability;

namespace MoeQuant.Coordinator.Report;

/// <summary>
/// save_dir/report/: the quality of the committed layers, rebuilt from their layer.json files. units.json holds every
/// unit (all of its <c>UnitReport</c> fields and its unit type) and the figures per layer and per layer and unit type;
/// loss-by-layer.png plots the mean proxy loss per unit type; summary.md has the tables. One units.json rather than
/// one file per layer, so that one read gives the whole run. Each file is written atomically, and the same layers give
/// the same bytes.
/// </summary>
public sealed class QualityReport(RunLayout layout)
{
    public const string UnitsFile = "units.json";
    public const string PlotFile = "loss-by-layer.png";
    public const string SummaryFile = "summary.md";

    /// <summary>Rebuilds the report from the summaries of layers 0 to <paramref name="layers"/> − 1.</summary>
    public ReportData Write(int layers)
    {
        var data = ReportData.From([.. Enumerable.Range(0, layers).Select(l => RunJournal.ReadLayerUnits(layout, l))]);
        AtomicFile.WriteAllBytes(Path.Combine(layout.ReportDir, UnitsFile), ReportJson.Serialize(data));
        AtomicFile.WriteAllBytes(Path.Combine(layout.ReportDir, PlotFile), LossPlot.Render(data));
        AtomicFile.WriteAllBytes(Path.Combine(layout.ReportDir, SummaryFile), Encoding.UTF8.GetBytes(ReportMarkdown.Write(data)));
        return data;
    }

    /// <summary>As <see cref="Write"/>, but returns the failure instead of throwing it: during a run, a report that
    /// cannot be written (a plot library that fails to load, say) is no reason to stop quantizing, and
    /// <c>moequant report</c> rebuilds it from the layer summaries later.</summary>
    public Exception? TryWrite(int layers)
    {
        try
        {
            Write(layers);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
