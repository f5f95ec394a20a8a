using System.Collections.Concurrent;

namespace MoeQuant.GpuNode.Execution;

/// <summary>Runs jobs one at a time, in submission order, on a dedicated thread that lives as long as the executor.</summary>
public sealed class DeviceThreadExecutor : IGpuExecutor
{
    private readonly BlockingCollection<Action> _jobs = new();
    private readonly Thread _thread;

    public DeviceThreadExecutor(string device)
    {
        Device = device;
        _thread = new Thread(Loop) { IsBackground = true, Name = $"moequant-{device}" };
        _thread.Start();
    }

    public string Device { get; }

    public Task<T> RunAsync<T>(GpuJob job, Func<T> work)
    {
        // Continuations run elsewhere: the device thread only ever runs device work.
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            _jobs.Add(() =>
            {
                try
                {
                    done.SetResult(work());
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

    private void Loop()
    {
        foreach (var job in _jobs.GetConsumingEnumerable())
        {
            job();
        }
    }
}
