using MoeQuant.GpuNode.Execution;

namespace MoeQuant.GpuNode.Tests.Fakes;

/// <summary>A device thread that fails chosen jobs on demand: each rule throws its exception for the next
/// <c>times</c> jobs that match, instead of running them.</summary>
public sealed class FaultyExecutor(string device) : IGpuExecutor
{
    private readonly DeviceThreadExecutor _inner = new(device);
    private readonly List<Rule> _rules = [];
    private readonly Lock _lock = new();
    private readonly List<(GpuJob Job, bool Failed)> _jobs = [];

    public string Device => _inner.Device;

    /// <summary>
    /// A copy of every job this executor was given so far, in order, with whether it failed: the actors keep giving jobs
    /// while a test reads (a test that enumerated the live list failed with "Collection was modified").
    /// </summary>
    public IReadOnlyList<(GpuJob Job, bool Failed)> Jobs
    {
        get
        {
            lock (_lock)
            {
                return [.. _jobs];
            }
        }
    }

    public FaultyExecutor Fail(Func<GpuJob, bool> when, Func<Exception> error, int times = int.MaxValue)
    {
        lock (_lock)
        {
            _rules.Add(new Rule(when, error) { Left = times });
        }

        return this;
    }

    public Task<T> RunAsync<T>(GpuJob job, Func<T> work)
    {
        Exception? failure = null;
        lock (_lock)
        {
            var rule = _rules.FirstOrDefault(r => r.Left > 0 && r.When(job));
            if (rule is not null)
            {
                rule.Left--;
                failure = rule.Error();
            }

            _jobs.Add((job, failure is not null));
        }

        return failure is null ? _inner.RunAsync(job, work) : _inner.RunAsync<T>(job, () => throw failure);
    }

    public void Dispose() => _inner.Dispose();

    private sealed record Rule(Func<GpuJob, bool> When, Func<Exception> Error)
    {
        public int Left { get; set; }
    }
}
