using MoeQuant.Coordinator.Hosting;
using MoeQuant.GpuNode.Durability;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Messages;
using MoeQuant.Model.Export;

namespace MoeQuant.Coordinator.Tests.Pipeline;

/// <summary>Serves another factory's workload with a pause before every device step, so that a child-process test can
/// kill a real run in the middle of a phase.</summary>
internal sealed class DelayedWorkloadFactory(IWorkloadFactory inner, int stepDelayMs) : IWorkloadFactory
{
    public ModelIdentity Describe(QuantizeSettings settings) => inner.Describe(settings);

    public ILayerWorkload Create(QuantizeSettings settings, RunLayout layout) => new Delayed(inner.Create(settings, layout), stepDelayMs);

    public ExportResult? Export(QuantizeSettings settings, RunLayout layout) => inner.Export(settings, layout);

    private sealed class Delayed(ILayerWorkload inner, int stepDelayMs) : ILayerWorkload, IDisposable
    {
        public RunShape Shape => inner.Shape;

        public ILayerWeights LoadLayer(string device, int layer) => Pause(() => inner.LoadLayer(device, layer));

        public IActivations ReadInput(string device, int layer, int shard) => inner.ReadInput(device, layer, shard);

        public IReadOnlyList<UnitCalibration> Calibrate(ILayerWeights weights, IActivations input, IReadOnlySet<UnitId> units) => Pause(() => inner.Calibrate(weights, input, units));

        public IHessian Accumulate(string device, IHessian? sum, IHessian part) => inner.Accumulate(device, sum, part);

        public IReadOnlyList<IQuantizedUnit> Quantize(ILayerWeights weights, IReadOnlyList<QuantizeRequest> batch) => Pause(() => inner.Quantize(weights, batch));

        public Task<string> WriteUnitAsync(IQuantizedUnit unit) => inner.WriteUnitAsync(unit);

        public IActivations ForwardQuantized(ILayerWeights weights, IActivations input, IReadOnlyDictionary<UnitId, IQuantizedUnit> quantized) =>
            Pause(() => inner.ForwardQuantized(weights, input, quantized));

        public Task<string> WriteShardAsync(int layer, int shard, IActivations output) => inner.WriteShardAsync(layer, shard, output);

        public void Dispose() => (inner as IDisposable)?.Dispose();

        private T Pause<T>(Func<T> step)
        {
            Thread.Sleep(stepDelayMs);
            return step();
        }
    }
}
