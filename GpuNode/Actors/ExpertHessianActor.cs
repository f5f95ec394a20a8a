using System.Runtime.ExceptionServices;
using Akka.Actor;
using Akka.Event;
using MoeQuant.GpuNode.Execution;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Messages;

namespace MoeQuant.GpuNode.Actors;

/// <summary>
/// Owns one quantization unit for one layer attempt: sums the shards' partial Hessians in shard order (so the sum does
/// not depend on which device calibrated which shard, nor on arrival order), then has its GpuNode quantize the unit,
/// retrying a failed kernel once, then once with more damping, and otherwise reporting the unit unquantized. Running
/// out of device memory is not the kernel's fault: it goes to the GpuNode, which tells the coordinator.
/// </summary>
public sealed class ExpertHessianActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly PlanId _plan;
    private readonly UnitId _unit;
    private readonly int _shards;
    private readonly IGpuExecutor _executor;
    private readonly ILayerWorkload _workload;
    private readonly BulkStore _bulk;
    private readonly NodeSettings _settings;
    private readonly IActorRef _coordinator;
    private readonly SortedDictionary<int, PartialHessian> _pending = [];
    private IHessian? _sum;
    private long _tokens;
    private int _nextShard;
    private bool _accumulating;
    private int _retries;
    private double _damping;
    private string _lastError = "";

    public ExpertHessianActor(PlanId plan, UnitId unit, int shards, IGpuExecutor executor, ILayerWorkload workload, BulkStore bulk, NodeSettings settings, IActorRef coordinator)
    {
        _plan = plan;
        _unit = unit;
        _shards = shards;
        _executor = executor;
        _workload = workload;
        _bulk = bulk;
        _settings = settings;
        _coordinator = coordinator;
        _damping = settings.RelDamp;
        Reducing();
    }

    public static Props Props(PlanId plan, UnitId unit, int shards, IGpuExecutor executor, ILayerWorkload workload, BulkStore bulk, NodeSettings settings, IActorRef coordinator) =>
        Akka.Actor.Props.Create(() => new ExpertHessianActor(plan, unit, shards, executor, workload, bulk, settings, coordinator));

    /// <summary>GpuNode → unit: one shard's partial Hessian for this unit.</summary>
    internal sealed record Partial(PartialHessian Hessian) : INoSerializationVerificationNeeded;

    /// <summary>GpuNode → unit: quantize now (every unit of the layer is reduced).</summary>
    internal sealed record QuantizeNow : INoSerializationVerificationNeeded;

    /// <summary>Unit → GpuNode: put this request in the device's kernel queue.</summary>
    internal sealed record Enqueue(PlanId Plan, QuantizeRequest Request) : INoSerializationVerificationNeeded;

    /// <summary>GpuNode → unit: the kernel queue's result.</summary>
    internal sealed record Quantized(IQuantizedUnit Result) : INoSerializationVerificationNeeded;

    /// <summary>GpuNode → unit: the launch that held only this unit failed.</summary>
    internal sealed record QuantizeFailed(string Error) : INoSerializationVerificationNeeded;

    /// <summary>Unit → GpuNode: a job of this unit ran out of device memory; the attempt cannot go on as planned.</summary>
    internal sealed record OutOfMemory(PlanId Plan, UnitId Unit, WorkPhase Phase, DeviceOutOfMemoryException Error) : INoSerializationVerificationNeeded;

    private sealed record Accumulated(IHessian Sum) : INoSerializationVerificationNeeded;

    private sealed record Written(IQuantizedUnit Result, string Sha256) : INoSerializationVerificationNeeded;

    // A failed reduce or write is not the kernel's fault (the device may be gone, the disk full): it fails this actor,
    // and the GpuNode's supervision decides.
    private sealed record Failed(Exception Error) : INoSerializationVerificationNeeded;

    protected override void PostStop() => ReleaseSum();

    // The sum is needed until the unit has its outcome (retries reuse it); then it is freed at once, so that a wave's
    // Hessians are gone before the next wave's arrive.
    private void ReleaseSum()
    {
        if (_sum is { } sum)
        {
            _sum = null;
            _executor.RunAsync(new GpuJob(GpuJobKind.Reduce, _unit.Layer, _unit.Module), () => { sum.Dispose(); return 0; });
        }
    }

    private void Reducing()
    {
        Receive<Failed>(m => Fail(m.Error, WorkPhase.Reduce));
        Receive<Partial>(m =>
        {
            _pending[m.Hessian.Shard] = m.Hessian;
            AccumulateNext();
        });
        Receive<Accumulated>(m =>
        {
            _sum = m.Sum;
            _accumulating = false;
            _nextShard++;
            AccumulateNext();
        });
    }

    private void AccumulateNext()
    {
        while (!_accumulating && _pending.Remove(_nextShard, out var partial))
        {
            _tokens += partial.Tokens;
            if (partial.Data is null)
            {
                _nextShard++;
                continue;
            }

            // The partial leaves the store here: summed (or kept as the sum) and freed at once, so that a layer's
            // partials never pile up on the device.
            var sum = _sum;
            var part = _bulk.Take<IHessian>(partial.Data);
            var device = _executor.Device;
            _accumulating = true;
            _executor.RunAsync(new GpuJob(GpuJobKind.Reduce, _unit.Layer, $"{_unit.Module} shard {partial.Shard}"), () => _workload.Accumulate(device, sum, part))
                .PipeTo(Self, success: s => new Accumulated(s), failure: e => new Failed(e));
        }

        if (!_accumulating && _nextShard == _shards)
        {
            _coordinator.Tell(new UnitReduced(_plan, _unit, _tokens));
            Become(Reduced);
        }
    }

    private void Reduced() => Receive<QuantizeNow>(_ =>
    {
        Request();
        Become(Quantizing);
    });

    private void Quantizing()
    {
        Receive<Failed>(m => Fail(m.Error, WorkPhase.Quantize));
        Receive<Quantized>(m => _executor.RunAsync(new GpuJob(GpuJobKind.Write, _unit.Layer, _unit.Module), () => _workload.WriteUnitAsync(m.Result)).Unwrap()
            .PipeTo(Self, success: sha => new Written(m.Result, sha), failure: e => new Failed(e)));
        Receive<Written>(m =>
        {
            var fallback = _retries > 1 ? QuantFallback.MoreDamping : QuantFallback.None;
            var report = new UnitReport(_unit, _tokens, m.Result.Loss, m.Result.RtnLoss, _damping, _retries, fallback, m.Result.Issues, m.Sha256, "");
            _coordinator.Tell(new UnitQuantized(_plan, report, _bulk.Put(_plan, _executor.Device, m.Result)));
            ReleaseSum();
            Become(Done);
        });
        Receive<QuantizeFailed>(m =>
        {
            _lastError = m.Error;
            if (_retries < NodeSettings.KernelRetries)
            {
                _retries++;
                if (_retries == NodeSettings.KernelRetries)
                {
                    _damping *= _settings.DampingGrowth;
                }

                _log.Warning("{0}: quantization failed ({1}); retry {2} with damping {3}", _unit, m.Error, _retries, _damping);
                Request();
                return;
            }

            _log.Error("{0}: quantization failed {1} times ({2}); the unit keeps its original weights", _unit, _retries + 1, m.Error);
            var report = new UnitReport(_unit, _tokens, double.NaN, double.NaN, _damping, _retries, QuantFallback.Unquantized, QuantIssues.None, "", _lastError);
            _coordinator.Tell(new UnitQuantized(_plan, report, null));
            ReleaseSum();
            Become(Done);
        });
    }

    // The unit's sum stays until the coordinator releases the attempt and the GpuNode stops this actor.
    private void Fail(Exception error, WorkPhase phase)
    {
        if (error is not DeviceOutOfMemoryException outOfMemory)
        {
            ExceptionDispatchInfo.Throw(error);
            return;
        }

        Context.Parent.Tell(new OutOfMemory(_plan, _unit, phase, outOfMemory));
        Become(Done);
    }

    private void Done()
    {
        // Replies of the queue after the outcome went out (none are expected) change nothing.
    }

    private void Request() => Context.Parent.Tell(new Enqueue(_plan, new QuantizeRequest(_unit, _sum, _tokens, _damping)));
}
