using System.Collections.Concurrent;

namespace MoeQuant.GpuNode.Execution;

/// <summary>One device's busy time by layer and job kind, and the most device memory in use seen after a job.</summary>
public sealed class JobStats
{
    private readonly ConcurrentDictionary<(int Layer, GpuJobKind Kind), (double Seconds, int Jobs)> _busy = new();
    private readonly ConcurrentDictionary<int, long> _peakBytes = new();

    public void Record(GpuJob job, TimeSpan elapsed, long? usedBytes)
    {
        _busy.AddOrUpdate((job.Layer, job.Kind), (elapsed.TotalSeconds, 1), (_, old) => (old.Seconds + elapsed.TotalSeconds, old.Jobs + 1));
        if (usedBytes is { } bytes)
        {
            _peakBytes.AddOrUpdate(job.Layer, bytes, (_, old) => Math.Max(old, bytes));
        }
    }

    /// <summary>Busy seconds and job count of every (layer, kind) seen; layer −1 holds jobs of no layer (frees).</summary>
    public IReadOnlyDictionary<(int Layer, GpuJobKind Kind), (double Seconds, int Jobs)> Busy => _busy;

    /// <summary>Peak device memory in use (bytes, all processes, the caching allocator's reserve included) by layer;
    /// empty on the CPU.</summary>
    public IReadOnlyDictionary<int, long> PeakBytes => _peakBytes;
}
