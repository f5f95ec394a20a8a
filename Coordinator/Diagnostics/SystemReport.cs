using System.Reflection;
using System.Runtime.InteropServices;
using MoeQuant.Kernels.Cuda;
using TorchSharp;

namespace MoeQuant.Coordinator.Diagnostics;

/// <summary>What `moequant doctor` reports: versions, host, and every CUDA device.</summary>
public sealed record SystemReport(
    string MoeQuantVersion,
    string DotNetVersion,
    string TorchSharpVersion,
    string LibTorchVersion,
    string? LibTorchPath,
    string Os,
    string CpuModel,
    int LogicalCpus,
    long MemoryTotalBytes,
    long MemoryAvailableBytes,
    bool TorchCudaAvailable,
    int TorchCudaDeviceCount,
    string? CudaDriverVersion,
    string? CudaUnavailableReason,
    IReadOnlyList<CudaDeviceInfo> CudaDevices)
{
    public static SystemReport Collect()
    {
        var (memTotal, memAvailable) = ReadMemInfo();
        var cuda = CudaDriver.IsAvailable;
        return new SystemReport(
            InformationalVersion(typeof(SystemReport).Assembly),
            RuntimeInformation.FrameworkDescription,
            InformationalVersion(typeof(torch).Assembly),
            torch.__version__,
            LoadedLibraryPath("libtorch_cpu.so"),
            RuntimeInformation.OSDescription,
            ReadCpuModel(),
            Environment.ProcessorCount,
            memTotal,
            memAvailable,
            torch.cuda.is_available(),
            torch.cuda.is_available() ? torch.cuda.device_count() : 0,
            cuda ? CudaDriver.DriverVersion() : null,
            CudaDriver.WhyUnavailable,
            cuda ? CudaDriver.Devices() : []);
    }

    /// <summary>An assembly's version without the source revision suffix ("0.1.0").</summary>
    internal static string InformationalVersion(Assembly assembly)
    {
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "unknown";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? version : version[..plus];
    }

    // TorchSharp reports the libtorch version it was built for; the library actually loaded (e.g. a Python torch
    // install's CUDA build on a GPU machine) is visible only in the process's memory map.
    private static string? LoadedLibraryPath(string fileName)
    {
        const string Maps = "/proc/self/maps";
        return File.Exists(Maps)
            ? File.ReadLines(Maps).Select(l => l[(l.IndexOf('/', StringComparison.Ordinal) is var i and >= 0 ? i : l.Length)..])
                .FirstOrDefault(path => path.EndsWith("/" + fileName, StringComparison.Ordinal))
            : null;
    }

    private static string ReadCpuModel()
    {
        const string CpuInfo = "/proc/cpuinfo";
        var line = File.Exists(CpuInfo)
            ? File.ReadLines(CpuInfo).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))
            : null;
        return line is null ? RuntimeInformation.ProcessArchitecture.ToString() : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
    }

    // /proc/meminfo counts in kB; without it (not Linux) fall back to what the GC sees.
    private static (long Total, long Available) ReadMemInfo()
    {
        const string MemInfo = "/proc/meminfo";
        if (!File.Exists(MemInfo))
        {
            var gc = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            return (gc, gc);
        }

        var values = File.ReadLines(MemInfo)
            .Select(l => l.Split(':', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => long.TryParse(p[1].Trim().Split(' ')[0], out var kb) ? kb * 1024 : 0);
        return (values.GetValueOrDefault("MemTotal"), values.GetValueOrDefault("MemAvailable"));
    }
}
