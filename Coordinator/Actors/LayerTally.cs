using System.Collections.Immutable;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Actors;

/// <summary>The coordinator's bookkeeping of one layer attempt: who has loaded, which wave is running, which shards and
/// units are through each phase of it, and what the layer produced. Each method returns true when its phase is
/// complete.</summary>
internal sealed class LayerTally
{
    private readonly HashSet<DeviceId> _loaded = [];
    private readonly HashSet<int> _calibrated = [];
    private readonly HashSet<UnitId> _reduced = [];
    private readonly Dictionary<UnitId, UnitReport> _reports = [];
    private readonly List<QuantizedRef> _quantized = [];
    private readonly SortedDictionary<int, string> _committed = [];
    private Dictionary<UnitId, DeviceId> _owners = [];
    private LayerPlan _plan = null!;
    private int _waveUnits;

    public IReadOnlyList<(DeviceId Device, ImmutableArray<int> Shards)> ShardsByDevice { get; private set; } = [];

    /// <summary>The wave being calibrated or quantized.</summary>
    public int Wave { get; private set; }

    public bool AllReduced => _reduced.Count == _waveUnits;

    /// <summary>Whether every unit of the wave has its outcome (at once for a layer with no units, e.g. a dense layer
    /// under --quantize-only-experts).</summary>
    public bool WaveQuantized => _reports.Count == _plan.Units.Count(u => u.Wave <= Wave);

    /// <summary>Whether the current wave is the layer's last.</summary>
    public bool LastWave => Wave == _plan.Waves - 1;

    public IReadOnlyList<UnitReport> Reports => [.. _reports.Values];

    public ImmutableArray<QuantizedRef> QuantizedRefs => [.. _quantized];

    public IReadOnlyDictionary<int, string> ShardHashes => _committed;

    public void Reset(LayerPlan plan)
    {
        _plan = plan;
        _owners = plan.Units.ToDictionary(u => u.Unit, u => u.Device);
        ShardsByDevice = plan.Shards.GroupBy(s => s.Device).Select(g => (g.Key, g.Select(s => s.Shard).Order().ToImmutableArray())).ToList();
        _loaded.Clear();
        _reports.Clear();
        _quantized.Clear();
        _committed.Clear();
        StartWave(0);
    }

    /// <summary>Moves on to the next wave.</summary>
    public void NextWave() => StartWave(Wave + 1);

    public DeviceId Owner(UnitId unit) => _owners[unit];

    public bool Loaded(DeviceId device) => _loaded.Add(device) && _loaded.Count == _plan.Devices.Length;

    public bool Calibrated(int wave, int shard) => wave == Wave && _calibrated.Add(shard) && _calibrated.Count == _plan.Shards.Length;

    public void Reduced(UnitId unit) => _reduced.Add(unit);

    public void Quantized(UnitReport report, BulkRef? result)
    {
        if (_reports.TryAdd(report.Unit, report) && result is not null)
        {
            _quantized.Add(new QuantizedRef(report.Unit, result));
        }
    }

    public bool Committed(int shard, string sha256) => _committed.TryAdd(shard, sha256) && _committed.Count == _plan.Shards.Length;

    private void StartWave(int wave)
    {
        Wave = wave;
        _waveUnits = _plan.Units.Count(u => u.Wave == wave);
        _calibrated.Clear();
        _reduced.Clear();
    }
}
