namespace MoeQuant.Kernels.Cuda;

/// <summary>What the driver says of one CUDA device.</summary>
/// <param name="Ordinal">Device index as CUDA numbers it (the `--devices` numbering).</param>
/// <param name="Name">Marketing name, e.g. "NVIDIA H100 80GB HBM3".</param>
/// <param name="ComputeCapabilityMajor">9 for Hopper.</param>
/// <param name="ComputeCapabilityMinor">0 for sm_90.</param>
/// <param name="MultiprocessorCount">Streaming multiprocessors.</param>
/// <param name="FreeBytes">Free device memory now.</param>
/// <param name="TotalBytes">Total device memory.</param>
public sealed record CudaDeviceInfo(
    int Ordinal,
    string Name,
    int ComputeCapabilityMajor,
    int ComputeCapabilityMinor,
    int MultiprocessorCount,
    long FreeBytes,
    long TotalBytes)
{
    /// <summary>The NVRTC architecture name, e.g. "sm_90".</summary>
    public string Architecture => $"sm_{ComputeCapabilityMajor}{ComputeCapabilityMinor}";
}
