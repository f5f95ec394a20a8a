using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using MoeQuant.GpuNode.Execution;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Kernels.Cuda;
using MoeQuant.Messages;

namespace MoeQuant.GpuNode.Actors;

/// <summary>
/// Owns one device: registers it with the coordinator, loads each layer's weights, hosts the ExpertHessianActors of
/// the units the plan gives the device and the device's DataParallelActor, and runs the device's GPTQ kernel queue
/// (many units per launch; a launch that runs out of memory or fails is split and retried). Work that runs out of device
/// memory even so (a launch of one unit, a load, a sum) is reported to the coordinator as
/// <see cref="DeviceOutOfMemory"/>, which re-plans the layer in smaller waves; the node itself stays as it is.
/// </summary>
public sealed class GpuNodeActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IGpuExecutor _executor;
    private readonly ILayerWorkload _workload;
    private readonly BulkStore _bulk;
    private readonly NodeSettings _settings;
    private readonly IActorRef _coordinator;
    private readonly DeviceId _device;
    private readonly IActorRef _dataParallel;
    private readonly string _incarnation = Guid.NewGuid().ToString("N");
    private readonly Dictionary<UnitId, IActorRef> _units = [];
    private Dictionary<UnitId, int> _waves = [];
    private readonly LinkedList<QuantizeItem> _queue = new();
    private readonly List<QuantizeItem> _staged = [];
    private int _expected;
    private PlanId? _plan;
    private ILayerWeights? _weights;
    private bool _launching;
    private string? _lastChildFailure;

    public GpuNodeActor(IGpuExecutor executor, ILayerWorkload workload, BulkStore bulk, NodeSettings settings, IActorRef coordinator)
    {
        _executor = executor;
        _workload = workload;
        _bulk = bulk;
        _settings = settings;
        _coordinator = coordinator;
        _device = new DeviceId(Cluster.Get(Context.System).SelfAddress.ToString(), executor.Device);
        _dataParallel = Context.Watch(Context.ActorOf(DataParallelActor.Props(_device, executor, workload, bulk, settings.OffloadActivations, coordinator), "data-parallel"));
        Registering();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IGpuExecutor executor, ILayerWorkload workload, BulkStore bulk, NodeSettings settings, IActorRef coordinator) =>
        Akka.Actor.Props.Create(() => new GpuNodeActor(executor, workload, bulk, settings, coordinator));

    private sealed record RegisterTick : INoSerializationVerificationNeeded;

    private sealed record Loaded(LayerPlan Plan, ILayerWeights Weights) : INoSerializationVerificationNeeded;

    private sealed record LoadFailed(PlanId Plan, Exception Error) : INoSerializationVerificationNeeded;

    private sealed record QuantizeItem(PlanId Plan, QuantizeRequest Request, IActorRef Owner);

    private sealed record LaunchDone(IReadOnlyList<QuantizeItem> Items, IReadOnlyList<IQuantizedUnit> Results) : INoSerializationVerificationNeeded;

    private sealed record LaunchFailed(IReadOnlyList<QuantizeItem> Items, Exception Error) : INoSerializationVerificationNeeded;

    protected override void PreStart()
    {
        _coordinator.Tell(new RegisterDevice(_device, _incarnation));
        Timers.StartPeriodicTimer("register", new RegisterTick(), _settings.RegisterInterval);
    }

    protected override void PostStop() => _weights?.Dispose();

    // Children hold a layer's in-memory work. None is restarted in place with half its state: a failed child stops,
    // its Terminated tells the coordinator that the layer attempt is lost, and the layer is redone from its committed
    // input. A corrupted device context is not the child's fault: it escalates, and this node's own supervisor stops it.
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(
        Decider.From(e =>
        {
            if (e is GpuContextCorruptedException)
            {
                return Directive.Escalate;
            }

            _lastChildFailure = e.Message;
            return Directive.Stop;
        }));

    private void Registering()
    {
        Receive<RegisterTick>(_ => _coordinator.Tell(new RegisterDevice(_device, _incarnation)));
        Receive<DeviceRegistered>(_ =>
        {
            Timers.Cancel("register");
            _log.Info("Device {0} registered with the coordinator", _device);
            Become(Ready);
        });
    }

    private void Ready()
    {
        Receive<RegisterTick>(_ => { });
        Receive<DeviceRegistered>(_ => { });
        Receive<LoadLayer>(Handle);
        Receive<Loaded>(Handle);
        Receive<LoadFailed>(Handle);
        Receive<CalibrateShards>(m => Current(m.Plan), m => _dataParallel.Forward(new DataParallelActor.Calibrate(m.Plan, m.Wave, WaveUnits(m.Wave), m.Shards, _weights!)));
        Receive<ReducePartials>(m => Current(m.Plan), Handle);
        Receive<QuantizeUnits>(m => Current(m.Plan), m =>
        {
            var wave = _units.Where(u => _waves[u.Key] == m.Wave).Select(u => u.Value).ToList();
            _expected = wave.Count;
            Tell(wave, new ExpertHessianActor.QuantizeNow());
        });
        Receive<ExpertHessianActor.Enqueue>(m => Current(m.Plan), m => Stage(new QuantizeItem(m.Plan, m.Request, Sender)));
        Receive<LaunchDone>(Handle);
        Receive<LaunchFailed>(Handle);
        Receive<ExpertHessianActor.OutOfMemory>(m => Current(m.Plan), m => ReportOutOfMemory(m.Error, m.Phase, _waves[m.Unit]));
        Receive<CommitShards>(m => Current(m.Plan), m => _dataParallel.Forward(new DataParallelActor.Commit(m.Plan, m.Shards, m.Quantized, _weights!)));
        Receive<ReleaseLayer>(Handle);
        Receive<Terminated>(Handle);
    }

    private bool Current(PlanId plan) => plan == _plan && _weights is not null;

    /// <summary>Every unit of the wave, on any device: the calibration forward collects all of their partials.</summary>
    private ImmutableHashSet<UnitId> WaveUnits(int wave) => [.. _waves.Where(u => u.Value == wave).Select(u => u.Key)];

    private void Handle(LoadLayer m)
    {
        DropLayer();
        _plan = m.Plan.Id;
        _executor.RunAsync(new GpuJob(GpuJobKind.Load, m.Plan.Id.Layer, "weights"), () => _workload.LoadLayer(_executor.Device, m.Plan.Id.Layer))
            .PipeTo(Self, success: w => new Loaded(m.Plan, w), failure: e => new LoadFailed(m.Plan.Id, e));
    }

    private void Handle(Loaded m)
    {
        if (m.Plan.Id != _plan)
        {
            _executor.RunAsync(new GpuJob(GpuJobKind.Load, m.Plan.Id.Layer, "release stale weights"), () => { m.Weights.Dispose(); return 0; });
            return;
        }

        _weights = m.Weights;
        _waves = m.Plan.Units.ToDictionary(u => u.Unit, u => u.Wave);
        var shards = m.Plan.Shards.Length;
        foreach (var unit in m.Plan.Units.Where(u => u.Device == _device).Select(u => u.Unit))
        {
            var props = ExpertHessianActor.Props(m.Plan.Id, unit, shards, _executor, _workload, _bulk, _settings, _coordinator);
            _units[unit] = Context.Watch(Context.ActorOf(props, $"unit-{unit.Layer}-{Uri.EscapeDataString(unit.Module)}-a{m.Plan.Id.Attempt}"));
        }

        _coordinator.Tell(new LayerLoaded(m.Plan.Id, _device));
    }

    private void Handle(LoadFailed m)
    {
        if (m.Plan == _plan)
        {
            if (m.Error is DeviceOutOfMemoryException outOfMemory)
            {
                ReportOutOfMemory(outOfMemory, WorkPhase.Load, wave: null);
                return;
            }

            Fail(m.Error, $"loading layer {m.Plan.Layer} failed");
        }
    }

    private void Handle(ReducePartials m)
    {
        foreach (var partial in m.Partials)
        {
            if (_units.TryGetValue(partial.Unit, out var owner))
            {
                owner.Tell(new ExpertHessianActor.Partial(partial));
            }
        }
    }

    // A wave's first requests are held until all of this device's units of the wave have asked, then queued in unit
    // order: which units share a batched launch is then fixed by the plan, not by arrival order, and on a GPU (where
    // batched products round differently by batch) the output bytes repeat. Retries come later and queue at once.
    private void Stage(QuantizeItem item)
    {
        if (_expected == 0)
        {
            Enqueue([item]);
            return;
        }

        _staged.Add(item);
        if (_staged.Count == _expected)
        {
            // By linear kind first ("down_proj", "gate_proj", ...), so that a launch holds units of one weight shape.
            var ordered = _staged
                .OrderBy(i => i.Request.Unit.Module[(i.Request.Unit.Module.LastIndexOf('.') + 1)..], StringComparer.Ordinal)
                .ThenBy(i => i.Request.Unit.Module, StringComparer.Ordinal)
                .ToList();
            _staged.Clear();
            _expected = 0;
            Enqueue(ordered);
        }
    }

    private void Enqueue(IReadOnlyList<QuantizeItem> items, bool atFront = false, bool split = false)
    {
        if (atFront)
        {
            foreach (var item in items.Reverse())
            {
                _queue.AddFirst(item);
            }
        }
        else
        {
            items.ToList().ForEach(item => _queue.AddLast(item));
        }

        Launch(split ? items.Count / 2 : _settings.MaxQuantizeBatch);
    }

    // One launch at a time per device; everything queued meanwhile goes into the next launch, up to the batch limit.
    private void Launch(int? limit = null)
    {
        if (_launching || _queue.Count == 0 || _weights is not { } weights)
        {
            return;
        }

        var items = _queue.Take(limit ?? _settings.MaxQuantizeBatch).ToList();
        items.ForEach(_ => _queue.RemoveFirst());
        _launching = true;
        var subject = string.Join(", ", items.Select(i => i.Request.Unit.Module));
        _executor.RunAsync(new GpuJob(GpuJobKind.Quantize, items[0].Plan.Layer, subject), () => _workload.Quantize(weights, items.Select(i => i.Request).ToList()))
            .PipeTo(Self, success: r => new LaunchDone(items, r), failure: e => new LaunchFailed(items, e));
    }

    private void Handle(LaunchDone m)
    {
        _launching = false;
        for (var i = 0; i < m.Items.Count; i++)
        {
            if (m.Items[i].Plan == _plan)
            {
                m.Items[i].Owner.Tell(new ExpertHessianActor.Quantized(m.Results[i]));
            }
            else
            {
                m.Results[i].Dispose();
            }
        }

        Launch();
    }

    private void Handle(LaunchFailed m)
    {
        _launching = false;
        if (m.Error is GpuContextCorruptedException)
        {
            Fail(m.Error, "the device context is corrupted");
            return;
        }

        var items = m.Items.Where(i => i.Plan == _plan).ToList();
        if (items.Count > 1)
        {
            // Out of memory, or one unit's kernel failed: halve the launch so that the rest goes through and the
            // failing unit ends up alone, where its own retry policy takes over.
            _log.Warning("Quantize launch of {0} units failed ({1}); splitting it", items.Count, m.Error.Message);
            Enqueue(items, atFront: true, split: true);
            return;
        }

        if (items.Count == 1 && m.Error is DeviceOutOfMemoryException outOfMemory)
        {
            // One unit alone does not fit beside the wave's resident Hessians: more damping would not help, fewer
            // Hessians would.
            ReportOutOfMemory(outOfMemory, WorkPhase.Quantize, _waves[items[0].Request.Unit]);
            return;
        }

        if (items.Count == 1)
        {
            items[0].Owner.Tell(new ExpertHessianActor.QuantizeFailed(m.Error.GetBaseException().Message));
        }

        Launch();
    }

    private void Handle(ReleaseLayer m)
    {
        if (m.Plan == _plan)
        {
            DropLayer();
            _plan = null;
        }

        _dataParallel.Forward(m);
        var device = _executor.Device;
        _executor.RunAsync(new GpuJob(GpuJobKind.Load, m.Plan.Layer, "release"), () => { _bulk.Release(m.Plan, device); return 0; });
    }

    private void Handle(Terminated m)
    {
        var reason = _lastChildFailure ?? "stopped";
        _lastChildFailure = null;

        // The data-parallel actor outlives layers: this node restarts with a fresh one, which re-reads its shards from
        // the committed state files, and registers again, which makes the coordinator redo the layer.
        if (m.ActorRef.Equals(_dataParallel))
        {
            throw new InvalidOperationException($"data-parallel actor of {_device} failed: {reason}");
        }

        if (_plan is { } plan)
        {
            _coordinator.Tell(new LayerWorkLost(plan, _device, $"{m.ActorRef.Path.Name} failed: {reason}"));
        }
    }

    // The attempt is lost: what is still queued of it would only fail again, so it is dropped. The coordinator answers
    // with a release of the attempt and a new plan.
    private void ReportOutOfMemory(DeviceOutOfMemoryException error, WorkPhase phase, int? wave)
    {
        _log.Warning("{0}: {1}", _device, error.Message);
        _queue.Clear();
        _staged.Clear();
        _expected = 0;
        _coordinator.Tell(error.ToMessage(_plan!, _device, phase, wave));
    }

    private void Fail(Exception error, string what)
    {
        if (error is GpuContextCorruptedException)
        {
            throw error;
        }

        _log.Error(error, "{0}: {1}", _device, what);
        _coordinator.Tell(new LayerWorkLost(_plan!, _device, $"{what}: {error.GetBaseException().Message}"));
    }

    private void DropLayer()
    {
        foreach (var unit in _units.Values)
        {
            Context.Unwatch(unit);
            Context.Stop(unit);
        }

        _units.Clear();
        _queue.Clear();
        _staged.Clear();
        _expected = 0;
        if (_weights is { } weights)
        {
            _executor.RunAsync(new GpuJob(GpuJobKind.Load, weights.Layer, "release weights"), () => { weights.Dispose(); return 0; });
            _weights = null;
        }
    }

    private static void Tell(IEnumerable<IActorRef> targets, object message)
    {
        foreach (var target in targets)
        {
            target.Tell(message);
        }
    }
}
