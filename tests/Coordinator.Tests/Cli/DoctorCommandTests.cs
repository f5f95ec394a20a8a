using System.Text.Json;

namespace MoeQuant.Coordinator.Tests.Cli;

public class DoctorCommandTests
{
    [Fact]
    public async Task Should_report_versions_and_no_gpu_as_json_when_run_on_a_cpu_machine()
    {
        var (exitCode, output, _) = await CliRun.InvokeAsync(new FakeHeaderReader([]), "doctor", "--json");

        Assert.Equal(0, exitCode);
        var report = JsonDocument.Parse(output).RootElement;
        Assert.Equal("0.107.0", report.GetProperty("torchSharpVersion").GetString());
        Assert.StartsWith(".NET 10", report.GetProperty("dotNetVersion").GetString(), StringComparison.Ordinal);
        Assert.True(report.GetProperty("memoryTotalBytes").GetInt64() > 0);
        Assert.True(report.GetProperty("logicalCpus").GetInt32() >= 1);
        if (MoeQuant.Kernels.Cuda.CudaDriver.IsAvailable)
        {
            Assert.True(report.GetProperty("cudaDevices").GetArrayLength() > 0);
            return;
        }

        // Without an NVIDIA driver (CI) the report says why instead of listing devices.
        Assert.Equal(0, report.GetProperty("cudaDevices").GetArrayLength());
        Assert.Contains("libcuda", report.GetProperty("cudaUnavailableReason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_say_plainly_that_there_is_no_gpu_when_printing_the_table()
    {
        var (exitCode, output, _) = await CliRun.InvokeAsync(new FakeHeaderReader([]), "doctor");

        Assert.Equal(0, exitCode);
        Assert.Contains("TorchSharp", output, StringComparison.Ordinal);
        Assert.Contains("No GPU", output, StringComparison.Ordinal);
    }
}
