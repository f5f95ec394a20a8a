using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MoeQuant.Kernels.Cuda;

namespace MoeQuant.Coordinator.Hosting;

/// <summary>
/// Logs each CUDA kernel compile (NVRTC, once per machine and kernel version; later runs load the cached cubin), so a
/// first run that is slower than the next says why.
/// </summary>
internal sealed partial class KernelCompileLog(ILogger<KernelCompileLog> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        CudaModuleCache.Compiled += OnCompiled;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        CudaModuleCache.Compiled -= OnCompiled;
        return Task.CompletedTask;
    }

    private void OnCompiled(string source, string architecture, TimeSpan elapsed) => LogCompiled(log, source, architecture, elapsed.TotalSeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Compiled CUDA kernels {Source} for {Architecture} in {Seconds:F1} s (cached for later runs)")]
    private static partial void LogCompiled(ILogger logger, string source, string architecture, double seconds);
}
