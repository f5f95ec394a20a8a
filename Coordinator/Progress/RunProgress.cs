using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MoeQuant.Coordinator.Planning;

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
/// <param name="OutOfMemory">The last time the device ran out of memory in this process, if it did.</param>
/// <param name="OutOfMemoryCount">How often it did.</param>
public sealed record ProgressSnapshot(
    int Layer,
    int Layers,
    LayerPhase Phase,
    int UnitsDone,
    int Units,
    int Devices,
    double TokensPerSecond,
    TimeSpan? Eta,
    OutOfMemoryDecision? OutOfMemory,
    int OutOfMemoryCount);

/// <summary>The coordinator's running account of the run, read by the display from another thread.</summary>
public sealed partial class RunProgress(int layers, int startLayer, long tokensPerLayer, ILogger? log = null)
{
    private readonly ILogger _log = log ?? NullLogger.Instance;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Lock _lock = new();
    private readonly Dictionary<(int Layer, LayerPhase Phase), double> _phaseSeconds = [];
    private readonly Dictionary<int, double> _layerSeconds = [];
    private readonly List<OutOfMemoryDecision> _outOfMemory = [];
    private ProgressSnapshot _now = new(startLayer, layers, LayerPhase.Waiting, 0, 0, 0, 0, null, null, 0);
    private (int Layer, LayerPhase Phase, TimeSpan Start)? _open;
    private (int Layer, TimeSpan Start)? _layerStart;

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

    public void Phase(int layer, LayerPhase phase, int units, int devices)
    {
        Clock(layer, phase);
        Update(s => s with { Layer = layer, Phase = phase, Units = units, Devices = devices, UnitsDone = phase < LayerPhase.Quantizing ? 0 : s.UnitsDone });
        if (phase != LayerPhase.Finished)
        {
            LogPhase(_log, layer + 1, layers, phase, units, devices, _clock.Elapsed.TotalSeconds);
        }
    }

    public void UnitDone() => Update(s => s with { UnitsDone = s.UnitsDone + 1 });

    /// <summary>A layer attempt ran out of device memory; the coordinator re-plans as <paramref name="decision"/> says
    /// (or stops, which its own log line tells).</summary>
    public void OutOfMemory(OutOfMemoryDecision decision)
    {
        lock (_lock)
        {
            _outOfMemory.Add(decision);
        }

        Update(s => s with { OutOfMemory = decision, OutOfMemoryCount = s.OutOfMemoryCount + 1 });
        if (decision.Fatal is null)
        {
            LogOutOfMemory(_log, decision.Failure.Plan.Layer + 1, layers, decision.Summary);
        }
    }

    /// <summary>Every out-of-memory decision of this process, in order.</summary>
    public IReadOnlyList<OutOfMemoryDecision> OutOfMemoryDecisions()
    {
        lock (_lock)
        {
            return [.. _outOfMemory];
        }
    }

    /// <summary>A layer is committed; rates and ETA come from the layers this process did.</summary>
    public void LayerDone(int layer)
    {
        var done = layer + 1 - startLayer;
        var elapsed = _clock.Elapsed;
        lock (_lock)
        {
            if (_layerStart is { } start && start.Layer == layer)
            {
                _layerSeconds[layer] = (elapsed - start.Start).TotalSeconds;
            }
        }

        var perLayer = elapsed / done;
        var eta = perLayer * (layers - layer - 1);
        Update(s => s with { TokensPerSecond = tokensPerLayer * done / elapsed.TotalSeconds, Eta = eta });
        LogLayerDone(_log, layer + 1, layers, tokensPerLayer * done / elapsed.TotalSeconds, elapsed.TotalSeconds, eta.TotalSeconds);
    }

    /// <summary>Wall seconds of every layer done in this process (from its first plan to its commit, re-plans
    /// included), and of each coordinator phase of it, summed over its waves.</summary>
    public (IReadOnlyDictionary<int, double> Layers, IReadOnlyDictionary<(int Layer, LayerPhase Phase), double> Phases) Timings()
    {
        lock (_lock)
        {
            return (new Dictionary<int, double>(_layerSeconds), new Dictionary<(int, LayerPhase), double>(_phaseSeconds));
        }
    }

    private void Clock(int layer, LayerPhase phase)
    {
        var now = _clock.Elapsed;
        lock (_lock)
        {
            if (_open is { } open)
            {
                _phaseSeconds[(open.Layer, open.Phase)] = _phaseSeconds.GetValueOrDefault((open.Layer, open.Phase)) + (now - open.Start).TotalSeconds;
            }

            _open = phase == LayerPhase.Finished ? null : (layer, phase, now);
            if (phase == LayerPhase.Planning && _layerStart?.Layer != layer)
            {
                _layerStart = (layer, now);
            }
        }
    }

    private void Update(Func<ProgressSnapshot, ProgressSnapshot> change)
    {
        lock (_lock)
        {
            _now = change(_now);
        }
    }

    // Plain log lines for the console when it is not a terminal, and for save_dir/logs/ always.
    [LoggerMessage(Level = LogLevel.Information, Message = "layer {Layer}/{Layers}: {Phase} ({Units} units on {Devices} devices, {Elapsed:F1} s elapsed)")]
    private static partial void LogPhase(ILogger log, int layer, int layers, LayerPhase phase, int units, int devices, double elapsed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "layer {Layer}/{Layers}: {Decision}; re-planning")]
    private static partial void LogOutOfMemory(ILogger log, int layer, int layers, string decision);

    [LoggerMessage(Level = LogLevel.Information, Message = "layer {Layer}/{Layers} done: {TokensPerSecond:F0} tokens/s, {Elapsed:F1} s elapsed, ETA {Eta:F0} s")]
    private static partial void LogLayerDone(ILogger log, int layer, int layers, double tokensPerSecond, double elapsed, double eta);
}
