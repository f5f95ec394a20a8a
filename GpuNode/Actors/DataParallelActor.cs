using System.Collections.Immutable;
using System.Runtime.ExceptionServices;
using Akka.Actor;
using MoeQuant.GpuNode.Execution;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Messages;

namespace MoeQuant.GpuNode.Actors;

/// <summary>
/// Holds the calibration shards the plan gives its device and runs them through each layer: once with the original
/// weights to collect partial Hessians, once with the quantized weights to make (and durably write) the next layer's
/// inputs. A shard's activations stay on the device between the two passes and into the next layer, unless
/// activations are offloaded, in which case every pass reads the shard's committed input back from disk. A pass that
/// runs out of device memory is reported to the coordinator, which re-plans the layer in smaller waves; any other
/// failure fails this actor.
/// </summary>
public sealed class DataParallelActor : ReceiveActor
{
    private readonly DeviceId _device;
    private readonly IGpuExecutor _executor;
    private readonly ILayerWorkload _workload;
    private readonly BulkStore _bulk;
    private readonly bool _offload;
    private readonly IActorRef _coordinator;
    private readonly Dictionary<(int Layer, int Shard), IActivations> _held = [];
    private readonly Queue<Step> _steps = new();
    private PlanId? _plan;
    private bool _busy;

    public DataParallelActor(DeviceId device, IGpuExecutor executor, ILayerWorkload workload, BulkStore bulk, bool offload, IActorRef coordinator)
    {
        _device = device;
        _executor = executor;
        _workload = workload;
        _bulk = bulk;
        _offload = offload;
        _coordinator = coordinator;
        Receive<Calibrate>(m => Queue(m.Plan, m.Shards.Select(s => new Step(m.Plan, s, m.Weights, null, m.Wave, m.Units))));
        Receive<Commit>(m =>
        {
            var quantized = m.Quantized.ToImmutableDictionary(q => q.Unit, q => q.Result);
            Queue(m.Plan, m.Shards.Select(s => new Step(m.Plan, s, m.Weights, quantized, -1, [])));
        });
        Receive<Calibrated>(Handle);
        Receive<Forwarded>(Handle);
        Receive<Committed>(Handle);
        Receive<Failed>(Handle);
        Receive<ReleaseLayer>(Handle);
    }

    public static Props Props(DeviceId device, IGpuExecutor executor, ILayerWorkload workload, BulkStore bulk, bool offload, IActorRef coordinator) =>
        Akka.Actor.Props.Create(() => new DataParallelActor(device, executor, workload, bulk, offload, coordinator));

    /// <summary>GpuNode → data parallel: calibration forward of these shards for the units of one wave.</summary>
    internal sealed record Calibrate(PlanId Plan, int Wave, ImmutableHashSet<UnitId> Units, ImmutableArray<int> Shards, ILayerWeights Weights)
        : INoSerializationVerificationNeeded;

    /// <summary>GpuNode → data parallel: quantized forward of these shards, then write their next-layer inputs.</summary>
    internal sealed record Commit(PlanId Plan, ImmutableArray<int> Shards, ImmutableArray<QuantizedRef> Quantized, ILayerWeights Weights)
        : INoSerializationVerificationNeeded;

    // Quantized is null for a calibration step, which collects the partials of Units (the wave's).
    private sealed record Step(PlanId Plan, int Shard, ILayerWeights Weights, ImmutableDictionary<UnitId, BulkRef>? Quantized, int Wave, ImmutableHashSet<UnitId> Units);

    private sealed record Calibrated(Step Step, IActivations Input, IReadOnlyList<UnitCalibration> Units) : INoSerializationVerificationNeeded;

    private sealed record Forwarded(Step Step, IActivations Output, Task<string> Write) : INoSerializationVerificationNeeded;

    private sealed record Committed(Step Step, string Sha256) : INoSerializationVerificationNeeded;

    private sealed record Failed(Step Step, Exception Error) : INoSerializationVerificationNeeded;

    protected override void PostStop() => Dispose(_held.Keys.ToList());

    private void Queue(PlanId plan, IEnumerable<Step> steps)
    {
        if (plan != _plan)
        {
            // A new attempt supersedes whatever of the old one is still queued.
            _steps.Clear();
            _plan = plan;
        }

        foreach (var step in steps)
        {
            _steps.Enqueue(step);
        }

        Next();
    }

    // Shards go one at a time: a shard's activations and partial Hessians are all the device memory a step needs.
    private void Next()
    {
        if (_busy || !_steps.TryDequeue(out var step))
        {
            return;
        }

        _busy = true;
        var layer = step.Plan.Layer;
        _held.TryGetValue((layer, step.Shard), out var held);
        var device = _executor.Device;
        if (step.Quantized is null)
        {
            _executor.RunAsync(new GpuJob(GpuJobKind.Calibrate, layer, $"shard {step.Shard}"), () =>
                {
                    var input = held ?? _workload.ReadInput(device, layer, step.Shard);
                    try
                    {
                        return (Input: input, Units: _workload.Calibrate(step.Weights, input, step.Units));
                    }
                    catch when (held is null)
                    {
                        // A failed pass (out of memory, typically) must not strand the input it read on the device.
                        input.Dispose();
                        throw;
                    }
                })
                .PipeTo(Self, success: r => new Calibrated(step, r.Input, r.Units), failure: e => new Failed(step, e));
        }
        else
        {
            var quantized = step.Quantized.ToDictionary(q => q.Key, q => _bulk.Get<IQuantizedUnit>(q.Value));
            _executor.RunAsync(new GpuJob(GpuJobKind.Forward, layer, $"shard {step.Shard}"), () =>
                {
                    var input = held ?? _workload.ReadInput(device, layer, step.Shard);
                    IActivations output;
                    try
                    {
                        output = _workload.ForwardQuantized(step.Weights, input, quantized);
                    }
                    finally
                    {
                        if (held is null)
                        {
                            input.Dispose();
                        }
                    }

                    return (Output: output, Write: _workload.WriteShardAsync(layer, step.Shard, output));
                })
                .PipeTo(Self, success: r => new Forwarded(step, r.Output, r.Write), failure: e => new Failed(step, e));
        }
    }

    private void Handle(Calibrated m)
    {
        _busy = false;
        var (plan, shard) = (m.Step.Plan, m.Step.Shard);
        if (plan == _plan)
        {
            Hold((plan.Layer, shard), m.Input);
            var partials = m.Units
                .Select(u => new PartialHessian(u.Unit, shard, u.Hessian is { } h ? _bulk.Put(plan, _executor.Device, h) : null, u.Tokens))
                .ToImmutableArray();
            _coordinator.Tell(new ShardCalibrated(plan, m.Step.Wave, shard, _workload.Shape.ShardTokens[shard], partials));
        }
        else
        {
            DisposeOnDevice([.. m.Units.Select(u => u.Hessian).OfType<IDisposable>(), m.Input]);
        }

        Next();
    }

    // The device is free once the output is in host memory: the next shard runs while this one's file is written, and
    // the coordinator hears of the shard only when the file is durable.
    private void Handle(Forwarded m)
    {
        _busy = false;
        if (m.Step.Plan == _plan)
        {
            Hold((m.Step.Plan.Layer + 1, m.Step.Shard), m.Output);
            m.Write.PipeTo(Self, success: sha => new Committed(m.Step, sha), failure: e => new Failed(m.Step, e));
        }
        else
        {
            DisposeOnDevice([m.Output]);
        }

        Next();
    }

    private void Handle(Committed m)
    {
        if (m.Step.Plan == _plan)
        {
            _coordinator.Tell(new ShardCommitted(m.Step.Plan, m.Step.Shard, m.Sha256));
        }
    }

    // Out of device memory: the attempt is lost, but not the device. Its remaining steps are dropped, since they would
    // fail the same way, and the coordinator decides; the actor stays, with the shards it holds.
    private void Handle(Failed m)
    {
        if (m.Error is not DeviceOutOfMemoryException outOfMemory)
        {
            ExceptionDispatchInfo.Throw(m.Error);
            return;
        }

        _busy = false;
        if (m.Step.Plan == _plan)
        {
            var (phase, wave) = m.Step.Quantized is null ? (WorkPhase.Calibrate, (int?)m.Step.Wave) : (WorkPhase.Commit, null);
            _coordinator.Tell(outOfMemory.ToMessage(m.Step.Plan, _device, phase, wave));
            _steps.Clear();
        }

        Next();
    }

    private void Hold((int Layer, int Shard) key, IActivations activations)
    {
        if (_offload)
        {
            DisposeOnDevice([activations]);
            return;
        }

        if (_held.TryGetValue(key, out var old) && !ReferenceEquals(old, activations))
        {
            DisposeOnDevice([old]);
        }

        _held[key] = activations;
    }

    // A committed layer's inputs are not needed again. An abandoned attempt's outputs are dropped (the redo makes them
    // anew); its inputs are the committed outputs of the layer before, still valid for the redo.
    private void Handle(ReleaseLayer m)
    {
        var layer = m.Plan.Layer;
        Dispose(_held.Keys.Where(k => m.Committed ? k.Layer <= layer : k.Layer > layer).ToList());
        if (m.Plan == _plan)
        {
            _steps.Clear();
            _plan = null;
        }
    }

    private void Dispose(IReadOnlyList<(int Layer, int Shard)> keys)
    {
        DisposeOnDevice(keys.Select(k => (IDisposable)_held[k]).ToList());
        keys.ToList().ForEach(k => _held.Remove(k));
    }

    private void DisposeOnDevice(List<IDisposable> items)
    {
        if (items.Count > 0)
        {
            _executor.RunAsync(new GpuJob(GpuJobKind.Load, -1, $"free {items.Count} on {_device.Name}"), () => { items.ForEach(i => i.Dispose()); return 0; });
        }
    }
}
