namespace MoeQuant.GpuNode.Execution;

/// <summary>What a job on a device does, so that logs, progress and fault-injecting test executors can tell jobs apart.</summary>
public enum GpuJobKind
{
    Load,
    Calibrate,
    Reduce,
    Quantize,
    Forward,
    Write,
}

/// <summary>A description of one job for a device thread.</summary>
/// <param name="Kind">What it does.</param>
/// <param name="Layer">The layer it belongs to.</param>
/// <param name="Subject">The shard ("shard 3") or units ("mlp.experts.0.down_proj, ...") it works on.</param>
public sealed record GpuJob(GpuJobKind Kind, int Layer, string Subject);

/// <summary>
/// The one way actors reach a device. Every job runs on the device's own long-lived thread, because a CUDA context and
/// TorchSharp's dispose scopes belong to one thread; actors get a <see cref="Task"/> back and pipe it to themselves,
/// so their mailboxes never block on tensor work.
/// </summary>
public interface IGpuExecutor : IDisposable
{
    /// <summary>The device's local name, "cpu:0" or "cuda:1".</summary>
    string Device { get; }

    /// <summary>Queues <paramref name="work"/> on the device thread. The task fails with
    /// <see cref="DeviceOutOfMemoryException"/> when the work ran out of device memory (whatever threw it), else with what
    /// the work threw (<c>GpuContextCorruptedException</c>, <c>CudaException</c>, ...).</summary>
    Task<T> RunAsync<T>(GpuJob job, Func<T> work);
}
