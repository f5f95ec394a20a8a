namespace MoeQuant.GpuNode.Durability;

/// <summary>
/// Runs the process's state and activation writes off the device threads, a few at a time. Each write ends in an fsync
/// to the one save_dir disk, so more writers than this only queue in the kernel, while each blocked writer holds a
/// thread-pool thread that the actors' dispatcher also needs (a DeepSeek-V3 MoE layer finishes about 260 unit files per
/// device within seconds).
/// </summary>
public static class DiskWrites
{
    private static readonly SemaphoreSlim Slots = new(Math.Clamp(Environment.ProcessorCount / 2, 2, 8));

    /// <summary>Runs <paramref name="write"/> on the thread pool once a slot is free.</summary>
    public static Task<T> RunAsync<T>(Func<T> write) => Task.Run(async () =>
    {
        await Slots.WaitAsync().ConfigureAwait(false);
        try
        {
            return write();
        }
        finally
        {
            Slots.Release();
        }
    });
}
