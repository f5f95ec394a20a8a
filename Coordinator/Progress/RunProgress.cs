using System.Diagnostics;

namespace MoeQuant.Coordinator.Progress;

/// <summary>The phases of one layer, in order.</summary>
public enum LayerPhase
{
    Waiting,
    Planning,
    Loading,
    Calibrating,
    Reducing,
    Quantizing,
    Committing,
    Finished,
}

/// <summary>What the progress display shows at one moment.</summary>
/// <param name="Layer">The layer in work.</param>
/// <param name="Layers">Layers of the run.</param>
/// <param name="Phase">Its phase.</param>
/// <param name="UnitsDone">Units of the layer quantized so far.</param>
/// <param name="Units">Units of the layer.</param>
/// <param name="Devices">Live devices.</param>
/// <param name="TokensPerSecond">Calibration tokens through the layer pipeline per second, over this process's layers.</param>
/// <param name="Eta">Estimated time left; null before the first layer of this process is done.</param>
public sealed record ProgressSnapshot(int Layer, int Layers, LayerPhase Phase, int UnitsDone, int Units, int Devices, double TokensPerSecond, TimeSpan? Eta);

/// <summary>The coordinator's running account of the run, read by the display from another thread.</summary>
public sealed class RunProgress(int layers, int startLayer, long tokensPerLayer)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Lock _lock = new();
    private ProgressSnapshot _now = new(startLayer, layers, LayerPhase.Waiting, 0, 0, 0, 0, null);

    public ProgressSnapshot Now
    {
        get
        {
            lock (_lock)
            {
                return _now;
            }
        }
    }

    public void Phase(int layer, LayerPhase phase, int units, int devices) =>
        Update(s => s with { Layer = layer, Phase = phase, Units = units, Devices = devices, UnitsDone = phase < LayerPhase.Quantizing ? 0 : s.UnitsDone });

    public void UnitDone() => Update(s => s with { UnitsDone = s.UnitsDone + 1 });

    /// <summary>A layer is committed; rates and ETA come from the layers this process did.</summary>
    public void LayerDone(int layer)
    {
        var done = layer + 1 - startLayer;
        var elapsed = _clock.Elapsed;
        var perLayer = elapsed / done;
        Update(s => s with { TokensPerSecond = tokensPerLayer * done / elapsed.TotalSeconds, Eta = perLayer * (layers - layer - 1) });
    }

    private void Update(Func<ProgressSnapshot, ProgressSnapshot> change)
    {
        lock (_lock)
        {
            _now = change(_now);
        }
    }
}
