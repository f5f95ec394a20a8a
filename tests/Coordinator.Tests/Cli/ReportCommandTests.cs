using MoeQuant.Coordinator.Report;
using MoeQuant.Coordinator.Tests.Report;

namespace MoeQuant.Coordinator.Tests.Cli;

public sealed class ReportCommandTests : IDisposable
{
    private readonly ReportLayers _run = new();
    private readonly FakeHeaderReader _reader = new([]);

    public void Dispose() => _run.Dispose();

    [Fact]
    public async Task Should_rebuild_the_report_of_the_committed_layers()
    {
        await _run.CommitAsync();

        var run = await CliRun.InvokeAsync(_reader, "report", _run.Layout.SaveDir);

        Assert.Equal((0, ""), (run.ExitCode, run.Error));
        Assert.Equal($"report of 2 layer(s), 9 units: {_run.Layout.ReportDir} (units.json, loss-by-layer.png, summary.md){Environment.NewLine}", run.Output);
        Assert.All([QualityReport.UnitsFile, QualityReport.PlotFile, QualityReport.SummaryFile], f => Assert.True(File.Exists(_run.ReportFile(f)), f));
    }

    [Fact]
    public async Task Should_leave_out_a_layer_whose_summary_no_longer_has_the_journaled_hash()
    {
        await _run.CommitAsync();
        File.AppendAllText(_run.Layout.LayerFile(1), " ");

        var run = await CliRun.InvokeAsync(_reader, "report", _run.Layout.SaveDir);

        Assert.Equal(0, run.ExitCode);
        Assert.StartsWith("report of 1 layer(s), 3 units:", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_exit_2_naming_the_folder_when_it_does_not_exist()
    {
        var missing = Path.Combine(_run.Layout.SaveDir, "nope");

        var run = await CliRun.InvokeAsync(_reader, "report", missing);

        Assert.Equal((2, ""), (run.ExitCode, run.Output));
        Assert.Equal($"error: {missing}: save_dir does not exist{Environment.NewLine}", run.Error);
    }

    [Fact]
    public async Task Should_exit_2_when_no_layer_is_committed()
    {
        var run = await CliRun.InvokeAsync(_reader, "report", _run.Layout.SaveDir);

        Assert.Equal((2, ""), (run.ExitCode, run.Output));
        Assert.StartsWith($"error: {_run.Layout.SaveDir}: no committed layer", run.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_run.Layout.ReportDir));
    }
}
