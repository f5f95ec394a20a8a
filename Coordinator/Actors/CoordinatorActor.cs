using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using MoeQuant.Coordinator.Journal;
using MoeQuant.Coordinator.Planning;
using MoeQuant.Coordinator.Progress;
using MoeQuant.Coordinator.Report;
using MoeQuant.Messages;

namespace MoeQuant.Coordinator.Actors;

/// <summary>
/// Walks the model layer by layer: Planning → Loading → Calibrating → Reducing → Quantizing → Committing, one
/// <c>Become</c> per phase. It plans from the registered devices, journals the plan before any work, and journals
/// the layer only once its files are durable (the quality report among them). A lost device or lost work makes it
/// re-plan the layer on the devices left and redo it from its committed input; a device that ran out of memory makes it
/// re-plan the layer in smaller waves (<see cref="WaveBudget"/>).
/// </summary>
public sealed class CoordinatorActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CoordinatorSettings _settings;
    private readonly RunJournal _journal;
    private readonly QualityReport _report;
    private readonly RunProgress _progress;
    private readonly RunCompletion _completion;
    private readonly Dictionary<DeviceId, IActorRef> _devices = [];
    private readonly Dictionary<DeviceId, string> _incarnations = [];
    private readonly LayerTally _tally = new();
    private LayerPlan _plan = null!;
    private int _layer;
    private int _attempt;
    private int _failures;
    private long _waveBytes;

    public CoordinatorActor(CoordinatorSettings settings, RunJournal journal, QualityReport report, RunProgress progress, RunCompletion completion)
    {
        _settings = settings;
        _journal = journal;
        _report = report;
        _progress = progress;
        _completion = completion;
        _layer = settings.StartLayer;
        _waveBytes = settings.WaveBytes;
        Waiting();
    }

    public static Props Props(CoordinatorSettings settings, RunJournal journal, QualityReport report, RunProgress progress, RunCompletion completion) =>
        Akka.Actor.Props.Create(() => new CoordinatorActor(settings, journal, report, progress, completion));

    private sealed record Recorded(PlanId Plan) : INoSerializationVerificationNeeded;

    private sealed record LayerRecorded(PlanId Plan, Exception? ReportFailure) : INoSerializationVerificationNeeded;

    private sealed record RecordFailed(Exception Error) : INoSerializationVerificationNeeded;

    private sealed record RunRecorded : INoSerializationVerificationNeeded;

    private void Waiting()
    {
        Receive<RegisterDevice>(m =>
        {
            Add(m, Sender);
            if (_devices.Count >= _settings.ExpectedDevices)
            {
                _log.Info("{0} device(s) registered; starting at layer {1} of {2}", _devices.Count, _layer, _settings.Shape.Layers);
                if (_waveBytes < _settings.ConfiguredWaveBytes)
                {
                    _log.Warning("Wave budget {0}, not {1}: this save_dir ran out of device memory with larger waves (journal.jsonl)", WaveBudget.Size(_waveBytes), WaveBudget.Size(_settings.ConfiguredWaveBytes));
                }

                PlanLayer();
            }
        });
    }

    private void PlanLayer()
    {
        _plan = LayerPlanner.Plan(new PlanId(_layer, _attempt), _devices.Keys, _settings.Shape, _waveBytes);
        _tally.Reset(_plan);
        Enter(LayerPhase.Planning);
        _journal.RecordPlanAsync(_plan, _waveBytes).PipeTo(Self, success: () => new Recorded(_plan.Id), failure: e => new RecordFailed(e));
        Become(Planning);
    }

    private void Planning()
    {
        Common();
        Receive<Recorded>(m => m.Plan == _plan.Id, _ =>
        {
            Broadcast(new LoadLayer(_plan));
            Enter(LayerPhase.Loading);
            Become(Loading);
        });
    }

    private void Loading()
    {
        Common();
        Receive<LayerLoaded>(m => m.Plan == _plan.Id, m =>
        {
            if (_tally.Loaded(m.Device))
            {
                CalibrateWave();
            }
        });
    }

    // One wave at a time: calibrate its units over every shard, reduce, quantize; then the next wave, and after the last
    // the commit forward. The waves bound the Hessian memory (LayerPlanner).
    private void CalibrateWave()
    {
        foreach (var (device, shards) in _tally.ShardsByDevice)
        {
            _devices[device].Tell(new CalibrateShards(_plan.Id, _tally.Wave, shards));
        }

        Enter(LayerPhase.Calibrating);
        Become(Calibrating);
    }

    private void Calibrating()
    {
        Common();
        Receive<UnitReduced>(m => m.Plan == _plan.Id, m => _tally.Reduced(m.Unit));
        Receive<ShardCalibrated>(m => m.Plan == _plan.Id && m.Wave == _tally.Wave, m =>
        {
            foreach (var group in m.Partials.GroupBy(p => _tally.Owner(p.Unit)))
            {
                _devices[group.Key].Tell(new ReducePartials(_plan.Id, [.. group]));
            }

            if (_tally.Calibrated(m.Wave, m.Shard))
            {
                Enter(LayerPhase.Reducing);
                Become(Reducing);
                QuantizeWhenReduced();
            }
        });
    }

    private void Reducing()
    {
        Common();
        Receive<UnitReduced>(m => m.Plan == _plan.Id, m =>
        {
            _tally.Reduced(m.Unit);
            QuantizeWhenReduced();
        });
    }

    private void QuantizeWhenReduced()
    {
        if (_tally.AllReduced)
        {
            Broadcast(new QuantizeUnits(_plan.Id, _tally.Wave));
            Enter(LayerPhase.Quantizing);
            Become(Quantizing);
            CommitWhenQuantized();
        }
    }

    private void Quantizing()
    {
        Common();
        Receive<UnitQuantized>(m => m.Plan == _plan.Id, m =>
        {
            _progress.UnitDone();
            if (m.Report.Fallback != QuantFallback.None)
            {
                _log.Warning("{0}: {1} after {2} retries (damping {3}) {4}", m.Report.Unit, m.Report.Fallback, m.Report.Retries, m.Report.Damping, m.Report.Error);
            }

            _tally.Quantized(m.Report, m.Result);
            CommitWhenQuantized();
        });
    }

    private void CommitWhenQuantized()
    {
        if (!_tally.WaveQuantized)
        {
            return;
        }

        if (!_tally.LastWave)
        {
            _tally.NextWave();
            CalibrateWave();
            return;
        }

        foreach (var (device, shards) in _tally.ShardsByDevice)
        {
            _devices[device].Tell(new CommitShards(_plan.Id, shards, _tally.QuantizedRefs));
        }

        Enter(LayerPhase.Committing);
        Become(Committing);
    }

    private void Committing()
    {
        Common();
        Receive<ShardCommitted>(m => m.Plan == _plan.Id, m =>
        {
            if (_tally.Committed(m.Shard, m.Sha256))
            {
                RecordLayerAsync(_plan.Id).PipeTo(Self, failure: e => new RecordFailed(e));
            }
        });
        Receive<LayerRecorded>(m => m.Plan == _plan.Id, m =>
        {
            if (m.ReportFailure is not null)
            {
                _log.Warning("Quality report not written at layer {0}: {1}; `moequant report` rebuilds it", _layer, m.ReportFailure.GetBaseException().Message);
            }

            LayerCommitted();
        });
    }

    // The report is rewritten inside the commit, on the journal's thread-pool task and before the journal line, so that
    // every layer counted done has it. A report that cannot be written is logged, not fatal (QualityReport.TryWrite).
    private async Task<LayerRecorded> RecordLayerAsync(PlanId plan)
    {
        Exception? reportFailure = null;
        await _journal.RecordLayerAsync(plan.Layer, _tally.Reports, _tally.ShardHashes, () => reportFailure = _report.TryWrite(plan.Layer + 1)).ConfigureAwait(false);
        return new LayerRecorded(plan, reportFailure);
    }

    private void LayerCommitted()
    {
        Broadcast(new ReleaseLayer(_plan.Id, Committed: true));

        var issues = _tally.Reports.Aggregate(QuantIssues.None, (all, r) => all | r.Issues);
        var unquantized = _tally.Reports.Count(r => r.Fallback == QuantFallback.Unquantized);
        _log.Info("Layer {0} quantized: loss={1:E2} units={2} samples={3} issues={4} unquantized={5}",
            _layer, _tally.Reports.Where(r => !double.IsNaN(r.Loss)).Sum(r => r.Loss), _tally.Reports.Count, _settings.Shape.TotalTokens, issues, unquantized);
        _progress.LayerDone(_layer);
        _layer++;
        _attempt = 0;
        _failures = 0;
        if (_layer < _settings.Shape.Layers)
        {
            PlanLayer();
            return;
        }

        Enter(LayerPhase.Finished);
        _journal.RecordRunDoneAsync(_settings.Shape.Layers).PipeTo(Self, success: () => new RunRecorded(), failure: e => new RecordFailed(e));
        Become(() =>
        {
            // A run that had to cut its waves ran slower than asked for: the user should see it at the end, not only in the log.
            var cut = _waveBytes < _settings.ConfiguredWaveBytes
                ? $" (in waves of at most {WaveBudget.Size(_waveBytes)} of Hessians, not {WaveBudget.Size(_settings.ConfiguredWaveBytes)}: the device ran out of memory)"
                : "";
            Receive<RunRecorded>(_ => _completion.Complete(new RunOutcome(true, $"all {_settings.Shape.Layers} layers quantized{cut}")));
            Receive<RecordFailed>(m => Stop($"writing the journal failed: {m.Error.GetBaseException().Message}"));
            Receive<RegisterDevice>(m => Sender.Tell(new DeviceRegistered(m.Device)));
        });
    }

    // Handlers every layer phase shares: membership changes and lost work, which all lead to a re-plan.
    private void Common()
    {
        Receive<RegisterDevice>(m =>
        {
            var restarted = _incarnations.TryGetValue(m.Device, out var before) && before != m.Incarnation;
            Add(m, Sender);
            if (restarted)
            {
                // The device's node restarted and lost its part of the layer.
                Replan($"{m.Device} restarted");
            }
        });
        Receive<Terminated>(m =>
        {
            var lost = _devices.FirstOrDefault(d => d.Value.Equals(m.ActorRef)).Key;
            if (lost is not null)
            {
                _devices.Remove(lost);
                _incarnations.Remove(lost);
                Replan($"{lost} stopped");
            }
        });
        Receive<LayerWorkLost>(m => m.Plan == _plan.Id, m => Replan(m.Reason));
        Receive<DeviceOutOfMemory>(m => m.Plan == _plan.Id, Handle);
        Receive<RecordFailed>(m => Stop($"writing the journal failed: {m.Error.GetBaseException().Message}"));
    }

    // Out of device memory is a planning input. When the failed work held a wave's Hessians, the layer is redone in
    // smaller waves, which stay smaller for the rest of the run: later layers of the same kind are as large, and finding
    // the budget again at every layer would cost a failed attempt each. Such a re-plan is progress, not a failed try: it
    // does not count against MaxLayerAttempts, and it ends at waves of one unit, where a unit that still does not fit
    // stops the run.
    private void Handle(DeviceOutOfMemory m)
    {
        var decision = WaveBudget.Decide(m, _plan, _settings.Shape, _waveBytes);
        _progress.OutOfMemory(decision);
        if (decision.Fatal is { } fatal)
        {
            Broadcast(new ReleaseLayer(_plan.Id, Committed: false));
            Stop(fatal);
        }
        else if (decision.Shrinks)
        {
            _waveBytes = decision.ToBytes;
            _journal.RecordWaveBudgetAsync(decision, _settings.ConfiguredWaveBytes).PipeTo(Self, failure: e => new RecordFailed(e));
            Replan($"smaller waves after {m.Device.Name} ran out of memory in {m.Phase.ToString().ToLowerInvariant()}", failed: false);
        }
        else
        {
            Replan(decision.Summary);
        }
    }

    private void Replan(string reason, bool failed = true)
    {
        Broadcast(new ReleaseLayer(_plan.Id, Committed: false));
        _attempt++;
        _failures += failed ? 1 : 0;
        if (_failures >= _settings.MaxLayerAttempts)
        {
            Stop($"layer {_layer} failed {_failures} times; last: {reason}");
        }
        else if (_devices.Count == 0)
        {
            Stop($"no device left ({reason})");
        }
        else
        {
            _log.Warning("Re-planning layer {0} on {1} device(s): {2}", _layer, _devices.Count, reason);
            PlanLayer();
        }
    }

    private void Stop(string message)
    {
        _log.Error("Run stopped at layer {0}: {1}", _layer, message);
        _completion.Complete(new RunOutcome(false, $"stopped at layer {_layer}: {message}"));
        Become(() => Receive<object>(_ => { }));
    }

    private void Add(RegisterDevice registration, IActorRef node)
    {
        var device = registration.Device;
        if (_devices.TryGetValue(device, out var old) && !old.Equals(node))
        {
            Context.Unwatch(old);
        }

        _devices[device] = Context.Watch(node);
        _incarnations[device] = registration.Incarnation;
        node.Tell(new DeviceRegistered(device));
    }

    private void Enter(LayerPhase phase)
    {
        _progress.Phase(_layer, phase, _settings.Shape.Layers > _layer ? _settings.Shape.Units[_layer].Length : 0, _devices.Count);
        _log.Info("Layer {0}/{1}: {2} ({3})", _layer + 1, _settings.Shape.Layers, phase, _plan.Id);
    }

    private void Broadcast(object message)
    {
        foreach (var device in _plan.Devices.Where(_devices.ContainsKey))
        {
            _devices[device].Tell(message);
        }
    }
}
