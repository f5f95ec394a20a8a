using MoeQuant.GpuNode.Execution;

namespace MoeQuant.GpuNode.Tests;

/// <summary><see cref="DeviceThreadExecutor"/>'s gate: the logical shares of one GPU never run jobs at the same time.</summary>
public class DeviceThreadExecutorTests
{
    private static readonly GpuJob Job = new(GpuJobKind.Quantize, 0, "unit");

    [Fact]
    public async Task Should_not_start_a_job_while_another_executor_sharing_its_gate_runs_one()
    {
        var gate = new object();
        using var first = new DeviceThreadExecutor("cuda:0/0", gate: gate);
        using var second = new DeviceThreadExecutor("cuda:0/1", gate: gate);
        using var firstStarted = new ManualResetEventSlim();
        using var releaseFirst = new ManualResetEventSlim();
        var secondRan = false;

        var a = first.RunAsync(Job, () =>
        {
            firstStarted.Set();
            releaseFirst.Wait();
            return Volatile.Read(ref secondRan);
        });
        firstStarted.Wait();
        var b = second.RunAsync(Job, () =>
        {
            Volatile.Write(ref secondRan, true);
            return true;
        });
        await Task.Delay(200); // time enough for the second to start, were it free to
        Assert.False(Volatile.Read(ref secondRan));
        releaseFirst.Set();

        Assert.False(await a);
        await b;
        Assert.True(Volatile.Read(ref secondRan));
    }

    [Fact]
    public async Task Should_run_jobs_of_executors_without_a_gate_at_the_same_time()
    {
        using var first = new DeviceThreadExecutor("cpu:0");
        using var second = new DeviceThreadExecutor("cpu:1");
        using var bothRunning = new CountdownEvent(2);

        // Each job waits for the other to have started: they finish only if they overlap.
        var a = first.RunAsync(Job, () => { bothRunning.Signal(); return bothRunning.Wait(TimeSpan.FromSeconds(10)); });
        var b = second.RunAsync(Job, () => { bothRunning.Signal(); return bothRunning.Wait(TimeSpan.FromSeconds(10)); });

        Assert.True(await a);
        Assert.True(await b);
    }
}
