using System.Diagnostics;
using MoeQuant.Kernels.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>
/// Wall time per stage of a batched GPTQ call (<see cref="GptqBatchSettings.Stages"/> = <see cref="Enter"/>): every
/// stage entry waits for the device, so each stage is charged the device work it queued plus the host time it took to
/// queue it, with no overlap between stages. That synchronization slows the call (the GPU idles while the host queues
/// the next stage's first kernels), so the sum of stages exceeds an unsynchronized call; compare both. On CUDA it also
/// samples the driver's used memory at every entry (libtorch's cached blocks included: a high-water mark of what the
/// process holds, not of live tensors).
/// </summary>
public sealed class GptqStageTimer
{
    private readonly Device _device;
    private readonly Stopwatch _clock = new();
    private readonly List<GptqStage> _order = [];
    private readonly Dictionary<GptqStage, (double Milliseconds, int Entries)> _stages = [];
    private GptqStage? _current;
    private double _last;

    /// <summary>A timer for work on <paramref name="device"/>.</summary>
    public GptqStageTimer(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        _device = device;
    }

    /// <summary>Milliseconds from <see cref="Start"/> to <see cref="Stop"/>.</summary>
    public double TotalMilliseconds { get; private set; }

    /// <summary>Milliseconds between <see cref="Start"/> and the first stage (should be near 0).</summary>
    public double UnattributedMilliseconds { get; private set; }

    /// <summary>Most device memory in use (driver's count, total − free) at any stage boundary; null off CUDA.</summary>
    public long? PeakDeviceUsedBytes { get; private set; }

    /// <summary>Device memory in use at <see cref="Start"/>; null off CUDA.</summary>
    public long? StartDeviceUsedBytes { get; private set; }

    /// <summary>Every stage entered since <see cref="Start"/>, in order of first entry, with its milliseconds and entry count.</summary>
    public IReadOnlyList<(GptqStage Stage, double Milliseconds, int Entries)> Stages =>
        [.. _order.Select(s => (s, _stages[s].Milliseconds, _stages[s].Entries))];

    /// <summary>Waits for the device, then starts the clock with no stage current.</summary>
    public void Start()
    {
        DeviceTimer.Synchronize(_device);
        _order.Clear();
        _stages.Clear();
        _current = null;
        UnattributedMilliseconds = 0;
        TotalMilliseconds = 0;
        StartDeviceUsedBytes = UsedBytes();
        PeakDeviceUsedBytes = StartDeviceUsedBytes;
        _last = 0;
        _clock.Restart();
    }

    /// <summary>Charges the time since the last boundary to the current stage (after waiting for the device), then makes <paramref name="stage"/> current.</summary>
    public void Enter(GptqStage stage)
    {
        Close();
        _current = stage;
        if (!_stages.TryGetValue(stage, out var sofar))
        {
            _order.Add(stage);
        }

        _stages[stage] = (sofar.Milliseconds, sofar.Entries + 1);
    }

    /// <summary>Charges the last stage and stops the clock.</summary>
    /// <returns><see cref="TotalMilliseconds"/>.</returns>
    public double Stop()
    {
        Close();
        _current = null;
        _clock.Stop();
        TotalMilliseconds = _last;
        return TotalMilliseconds;
    }

    private void Close()
    {
        DeviceTimer.Synchronize(_device);
        var now = _clock.Elapsed.TotalMilliseconds;
        if (_current is { } stage)
        {
            var (milliseconds, entries) = _stages[stage];
            _stages[stage] = (milliseconds + now - _last, entries);
        }
        else
        {
            UnattributedMilliseconds += now - _last;
        }

        _last = now;
        if (UsedBytes() is { } used)
        {
            PeakDeviceUsedBytes = Math.Max(PeakDeviceUsedBytes ?? 0, used);
        }
    }

    private long? UsedBytes() => _device.type == DeviceType.CUDA ? CudaMemory.UsedBytes(_device.index < 0 ? 0 : _device.index) : null;
}
