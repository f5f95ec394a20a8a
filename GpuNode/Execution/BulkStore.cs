using System.Collections.Concurrent;
using MoeQuant.Messages;

namespace MoeQuant.GpuNode.Execution;

/// <summary>
/// The process's parking lot for bulk data (partial Hessians, quantized weights). Messages carry a
/// <see cref="BulkRef"/>; the receiving actor in the same process takes the object by reference. Data is held outside
/// the actors on purpose: an actor that fails does not take parked work with it, and the coordinator releases a layer's
/// entries only when the layer is committed or abandoned.
/// </summary>
public sealed class BulkStore
{
    private readonly ConcurrentDictionary<string, object> _entries = new(StringComparer.Ordinal);
    private long _next;

    /// <summary>Number of parked entries (tests check that released layers leave nothing behind).</summary>
    public int Count => _entries.Count;

    /// <summary>Parks <paramref name="value"/>, made on <paramref name="device"/>, under a fresh key of the plan.</summary>
    public BulkRef Put(PlanId plan, string device, object value)
    {
        var key = $"{Prefix(plan, device)}{Interlocked.Increment(ref _next)}";
        _entries[key] = value;
        return new BulkRef(key);
    }

    /// <summary>The parked object; throws when it was released, which means the plan was abandoned meanwhile.</summary>
    public T Get<T>(BulkRef reference) => _entries.TryGetValue(reference.Key, out var value)
        ? (T)value
        : throw new InvalidOperationException($"bulk entry {reference.Key} is gone (its layer attempt was released)");

    /// <summary>Removes the parked object and hands it, and the duty to dispose it, to the caller; throws when it was
    /// released or taken already.</summary>
    public T Take<T>(BulkRef reference) => _entries.TryRemove(reference.Key, out var value)
        ? (T)value
        : throw new InvalidOperationException($"bulk entry {reference.Key} is gone (its layer attempt was released)");

    /// <summary>Drops every entry that <paramref name="device"/> made for the plan's attempt, disposing those that are
    /// disposable. Call it on that device's thread, so that no job of the device still uses them.</summary>
    public void Release(PlanId plan, string device)
    {
        var prefix = Prefix(plan, device);
        foreach (var key in _entries.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)))
        {
            if (_entries.TryRemove(key, out var value) && value is IDisposable disposable)
            {
                disposable.Dispose();
            }
        }
    }

    private static string Prefix(PlanId plan, string device) => $"L{plan.Layer}A{plan.Attempt}/{device}/";
}
