using System.CommandLine;
using System.Text.Json;
using MoeQuant.Coordinator.Diagnostics;
using Spectre.Console;

namespace MoeQuant.Coordinator.Cli;

/// <summary>`moequant doctor`: versions, host resources and CUDA devices, so users can check a machine before a run.</summary>
public static class DoctorCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var command = new Command("doctor", "Show versions, CPU, memory and every CUDA device") { json };
        command.SetAction(parseResult =>
        {
            var report = SystemReport.Collect();
            if (parseResult.GetValue(json))
            {
                parseResult.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(report, CliJson.Options));
            }
            else
            {
                Render(report, CliConsole.For(parseResult));
            }

            return 0;
        });
        return command;
    }

    private static void Render(SystemReport r, IAnsiConsole console)
    {
        var table = new Table().HideHeaders().AddColumn("key").AddColumn("value");
        table.AddRow("MoeQuant", r.MoeQuantVersion);
        table.AddRow(".NET", r.DotNetVersion);
        table.AddRow("TorchSharp", r.TorchSharpVersion);
        table.AddRow("libtorch", $"{r.LibTorchVersion} (TorchSharp's target), loaded from {Markup.Escape(r.LibTorchPath ?? "?")}");
        table.AddRow("OS", r.Os);
        table.AddRow("CPU", $"{r.CpuModel} ({r.LogicalCpus} logical)");
        table.AddRow("Memory", $"{Gib(r.MemoryAvailableBytes)} free of {Gib(r.MemoryTotalBytes)}");
        table.AddRow("libtorch CUDA", r.TorchCudaAvailable ? $"yes, {r.TorchCudaDeviceCount} device(s)" : "no");
        table.AddRow("CUDA driver", r.CudaDriverVersion ?? $"none: {r.CudaUnavailableReason}");
        console.Write(table);

        if (r.CudaDevices.Count == 0)
        {
            console.MarkupLine("[yellow]No GPU: MoeQuant will run on the CPU (fine for the built-in tiny model, far too slow for DeepSeek-V3).[/]");
            return;
        }

        var devices = new Table().AddColumns("#", "name", "compute capability", "SMs", "free", "total");
        foreach (var d in r.CudaDevices)
        {
            devices.AddRow(
                d.Ordinal.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Markup.Escape(d.Name),
                $"{d.ComputeCapabilityMajor}.{d.ComputeCapabilityMinor} ({d.Architecture})",
                d.MultiprocessorCount.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Gib(d.FreeBytes),
                Gib(d.TotalBytes));
        }

        console.Write(devices);
    }

    private static string Gib(long bytes) => $"{bytes / (1024.0 * 1024 * 1024):F1} GiB";
}
