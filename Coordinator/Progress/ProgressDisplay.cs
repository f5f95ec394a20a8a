using MoeQuant.Kernels.Cuda;
using Spectre.Console;

namespace MoeQuant.Coordinator.Progress;

/// <summary>The live display of a run on a terminal: layer i/N, phase, units done, tokens/s, GPU memory, ETA. Off a
/// terminal the progress log lines say the same, one line per phase.</summary>
internal static class ProgressDisplay
{
    public static Task ShowAsync(IAnsiConsole console, RunProgress progress, Task done) =>
        console.Live(Render(progress.Now, GpuMemory())).AutoClear(false).StartAsync(async context =>
        {
            var memory = GpuMemory();
            for (var tick = 1; !done.IsCompleted; tick++)
            {
                // The driver query is cheap but not free: every 2 s is enough for a memory figure.
                memory = tick % 8 == 0 ? GpuMemory() : memory;
                context.UpdateTarget(Render(progress.Now, memory));
                await Task.WhenAny(done, Task.Delay(TimeSpan.FromMilliseconds(250))).ConfigureAwait(false);
            }

            context.UpdateTarget(Render(progress.Now, memory));
        });

    /// <summary>Used/total GiB of every CUDA device, or null without CUDA.</summary>
    private static string? GpuMemory() => CudaDriver.IsAvailable
        ? string.Join("  ", CudaDriver.Devices().Select(d => $"{d.Ordinal}: {(d.TotalBytes - d.FreeBytes) / (double)(1L << 30):F1}/{d.TotalBytes / (double)(1L << 30):F0} GiB"))
        : null;

    private static Table Render(ProgressSnapshot s, string? gpuMemory)
    {
        var table = new Table().Border(TableBorder.Rounded).HideHeaders().AddColumn("what").AddColumn("value");
        var layer = Math.Min(s.Layer + 1, s.Layers);
        table.AddRow("layer", $"{layer}/{s.Layers}");
        table.AddRow("phase", s.Phase.ToString());
        table.AddRow("units", $"{s.UnitsDone}/{s.Units}");
        table.AddRow("devices", $"{s.Devices}");
        table.AddRow("tokens/s", s.TokensPerSecond > 0 ? $"{s.TokensPerSecond:N0}" : "-");
        if (gpuMemory is not null)
        {
            table.AddRow("GPU memory", gpuMemory);
        }

        if (s.OutOfMemory is { } last)
        {
            // Each cut makes the rest of the run slower (more calibration passes), so it stays in view.
            table.AddRow("out of memory", Markup.Escape($"{s.OutOfMemoryCount}x, last: {last.Summary}"));
        }

        table.AddRow("ETA", s.Eta is { } eta ? eta.ToString(@"hh\:mm\:ss") : "-");
        return table;
    }
}
