using System.Diagnostics;
using MoeQuant.Kernels.Cuda;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>The time of one phase of a layer run, summed over its occurrences.</summary>
public sealed record PhaseTime(string Phase, double Milliseconds);

/// <summary>
/// Times the phases of <see cref="DecoderLayer.Run"/> (pass it in <see cref="LayerCapture.Phases"/>): every phase
/// boundary waits for the device, so each phase's kernels are counted in it alone. The waits themselves cost time and
/// stop the host from queueing ahead, so a clocked run is slower than an unclocked one; time the headline without it.
/// </summary>
public sealed class ForwardPhaseClock(Device device)
{
    private readonly List<string> _order = [];
    private readonly Dictionary<string, double> _milliseconds = [];
    private readonly Stopwatch _clock = new();

    /// <summary>Phases in the order they first ended, with their summed times.</summary>
    public IReadOnlyList<PhaseTime> Phases => [.. _order.Select(p => new PhaseTime(p, _milliseconds[p]))];

    /// <summary>Waits for queued work and starts the first phase.</summary>
    public void Start()
    {
        DeviceTimer.Synchronize(device);
        _clock.Restart();
    }

    internal void Mark(string phase)
    {
        DeviceTimer.Synchronize(device);
        var elapsed = _clock.Elapsed.TotalMilliseconds;
        if (!_milliseconds.TryAdd(phase, elapsed))
        {
            _milliseconds[phase] += elapsed;
        }
        else
        {
            _order.Add(phase);
        }

        _clock.Restart();
    }
}
