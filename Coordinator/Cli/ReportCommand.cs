using System.CommandLine;
using MoeQuant.Coordinator.Journal;
using MoeQuant.Coordinator.Report;
using MoeQuant.GpuNode.Durability;
using MoeQuant.Model;

namespace MoeQuant.Coordinator.Cli;

/// <summary><c>moequant report &lt;save_dir&gt;</c>: rebuilds save_dir/report/ from the committed layers, e.g. after a
/// run whose report could not be written, or while a run is going (it reads only committed layers).</summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var directory = new Argument<DirectoryInfo>("save-dir") { Description = "The run's --save-dir" };
        var command = new Command("report", "Write the per-layer quality report (units.json, loss-by-layer.png, summary.md) into <save-dir>/report")
        {
            directory,
        };
        command.SetAction(parseResult =>
        {
            var layout = Layout(parseResult.GetValue(directory)!);
            var layers = RunJournal.LayersDone(layout);
            if (layers == 0)
            {
                throw new UserInputException($"{layout.SaveDir}: no committed layer (journal.jsonl records no layers/NNN/layer.json that is still intact)");
            }

            var data = new QualityReport(layout).Write(layers);
            parseResult.InvocationConfiguration.Output.WriteLine(
                $"report of {data.Layers} layer(s), {data.Units.Count} units: {layout.ReportDir} ({QualityReport.UnitsFile}, {QualityReport.PlotFile}, {QualityReport.SummaryFile})");
            return 0;
        });
        return command;
    }

    private static RunLayout Layout(DirectoryInfo dir) => dir.Exists
        ? new RunLayout(dir.FullName)
        : throw new UserInputException($"{dir.FullName}: save_dir does not exist");
}
