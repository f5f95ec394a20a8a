namespace MoeQuant.GpuNode.Workload;

/// <summary>What a workload measured besides its results, for the run's timings report.</summary>
/// <param name="HessianSeconds">Seconds spent summing Σxxᵀ, by layer and device name ("cuda:0/1") (measured only when phases are profiled,
/// because it needs the device synchronized around every sum).</param>
/// <param name="HessianBytesBetweenDevices">Bytes of partial Hessians copied from one device to another, by layer.</param>
/// <param name="WeightBytesToDevices">Bytes of quantized weights copied into the layer copies of the quantized forward
/// (from host memory, where finished units wait), by layer.</param>
public sealed record WorkloadCounters(
    IReadOnlyDictionary<(int Layer, string Device), double> HessianSeconds,
    IReadOnlyDictionary<int, long> HessianBytesBetweenDevices,
    IReadOnlyDictionary<int, long> WeightBytesToDevices);

/// <summary>A workload that keeps <see cref="WorkloadCounters"/>.</summary>
public interface ICountingWorkload
{
    WorkloadCounters Counters { get; }
}
