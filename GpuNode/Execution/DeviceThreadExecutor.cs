using System.Collections.Concurrent;
using System.Diagnostics;
using MoeQuant.Kernels.Cuda;

namespace MoeQuant.GpuNode.Execution;

/// <summary>What an executor asks of a GPU after each job, so that a job's time includes its kernels and the memory
/// peak is seen.</summary>
/// <param name="Synchronize">Waits for the device's work.</param>
/// <param name="Memory">Device memory in use and in total.</param>
public sealed record DeviceProbe(Action Synchronize, Func<(long UsedBytes, long TotalBytes)> Memory);

/// <summary>Runs jobs one at a time, in submission order, on a dedicated thread that lives as long as the executor, and
/// times them (<see cref="Stats"/>). A job that runs out of device memory fails with
/// <see cref="DeviceOutOfMemoryException"/>, whichever library threw. Executors of logical shares of one GPU may share a
/// gate, so that only one of them at a time has work in flight there.</summary>
public sealed class DeviceThreadExecutor : IGpuExecutor
{
    private readonly BlockingCollection<Action> _jobs = new();
    private readonly Thread _thread;
    private readonly DeviceProbe? _probe;
    private readonly object? _gate;

    /// <param name="device">The device's local name.</param>
    /// <param name="probe">For a GPU: synchronize and read memory after every job; null on the CPU.</param>
    /// <param name="gate">
    /// Shared by the executors of one GPU's logical shares (cuda:N/k): a job holds it from start to its final
    /// synchronize. Two threads with work in flight on one CUDA context at once made reruns on one GPU split in two
    /// differ (cuBLAS and libtorch choose algorithms and workspaces while the other thread's work runs); the shares
    /// already queue on one stream, so the gate costs no GPU time. Null: no gate.
    /// </param>
    public DeviceThreadExecutor(string device, DeviceProbe? probe = null, object? gate = null)
    {
        Device = device;
        _probe = probe;
        _gate = gate;
        _thread = new Thread(Loop) { IsBackground = true, Name = $"moequant-{device}" };
        _thread.Start();
    }

    public string Device { get; }

    /// <summary>Busy time by layer and job kind, and memory peaks.</summary>
    public JobStats Stats { get; } = new();

    public Task<T> RunAsync<T>(GpuJob job, Func<T> work)
    {
        // Continuations run elsewhere: the device thread only ever runs device work.
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            _jobs.Add(() =>
            {
                var clock = Stopwatch.StartNew();
                try
                {
                    var result = work();
                    _probe?.Synchronize();
                    Stats.Record(job, clock.Elapsed, _probe?.Memory().UsedBytes);
                    done.SetResult(result);
                }
                catch (Exception e) when (CudaOutOfMemory.Is(e))
                {
                    done.SetException(new DeviceOutOfMemoryException(Device, job, MemoryNow(), e));
                }
                catch (Exception e)
                {
                    done.SetException(e);
                }
            });
        }
        catch (InvalidOperationException)
        {
            done.SetException(new ObjectDisposedException($"device executor {Device}"));
        }

        return done.Task;
    }

    public void Dispose()
    {
        _jobs.CompleteAdding();
        _thread.Join();
        _jobs.Dispose();
    }

    // The figures are for the report only: a device that cannot even say how full it is still ran out of memory.
    private (long UsedBytes, long TotalBytes)? MemoryNow()
    {
        try
        {
            return _probe?.Memory();
        }
        catch (CudaException)
        {
            return null;
        }
    }

    private void Loop()
    {
        foreach (var job in _jobs.GetConsumingEnumerable())
        {
            if (_gate is null)
            {
                job();
                continue;
            }

            lock (_gate)
            {
                job();
            }
        }
    }
}
