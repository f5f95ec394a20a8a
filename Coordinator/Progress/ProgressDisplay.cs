using Spectre.Console;

namespace MoeQuant.Coordinator.Progress;

/// <summary>The live display of a run on a terminal: layer i/N, phase, units done, tokens/s, ETA. Off a terminal the
/// coordinator's log lines say the same, one line per phase.</summary>
internal static class ProgressDisplay
{
    public static Task ShowAsync(IAnsiConsole console, RunProgress progress, Task done) =>
        console.Live(Render(progress.Now)).AutoClear(false).StartAsync(async context =>
        {
            while (!done.IsCompleted)
            {
                context.UpdateTarget(Render(progress.Now));
                await Task.WhenAny(done, Task.Delay(TimeSpan.FromMilliseconds(250))).ConfigureAwait(false);
            }

            context.UpdateTarget(Render(progress.Now));
        });

    private static Table Render(ProgressSnapshot s)
    {
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().AddColumn("what").AddColumn("value");
        var layer = Math.Min(s.Layer + 1, s.Layers);
        table.AddRow("layer", $"{layer}/{s.Layers}");
        table.AddRow("phase", s.Phase.ToString());
        table.AddRow("units", $"{s.UnitsDone}/{s.Units}");
        table.AddRow("devices", $"{s.Devices}");
        table.AddRow("tokens/s", s.TokensPerSecond > 0 ? $"{s.TokensPerSecond:N0}" : "-");
        table.AddRow("ETA", s.Eta is { } eta ? eta.ToString(@"hh\:mm\:ss") : "-");
        return table;
    }
}
