using System.Runtime.InteropServices;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Messages;

namespace MoeQuant.GpuNode.Tests.Fakes;

/// <summary>Another workload on a device with room for the Hessians of a few units only: the calibration pass of a wave
/// with more units than <paramref name="maxWaveUnits"/> allows for the layer throws libtorch's out-of-memory error the
/// way TorchSharp surfaces it (an untyped <see cref="ExternalException"/>), before doing any work.</summary>
public sealed class MemoryLimitedWorkload(ILayerWorkload inner, Func<int, int> maxWaveUnits) : ILayerWorkload, IDisposable
{
    public RunShape Shape => inner.Shape;

    public ILayerWeights LoadLayer(string device, int layer) => inner.LoadLayer(device, layer);

    public IActivations ReadInput(string device, int layer, int shard) => inner.ReadInput(device, layer, shard);

    public IReadOnlyList<UnitCalibration> Calibrate(ILayerWeights weights, IActivations input, IReadOnlySet<UnitId> units) =>
        units.Count <= maxWaveUnits(weights.Layer)
            ? inner.Calibrate(weights, input, units)
#pragma warning disable CA2201 // the type TorchSharp throws for every libtorch error, which is the point
            : throw new ExternalException($"CUDA out of memory. Tried to allocate {units.Count * 2} GiB. GPU 0 has a total capacity of 79.11 GiB of which 1.12 GiB is free.\nbacktrace follows");
#pragma warning restore CA2201

    public IHessian Accumulate(string device, IHessian? sum, IHessian part) => inner.Accumulate(device, sum, part);

    public IReadOnlyList<IQuantizedUnit> Quantize(ILayerWeights weights, IReadOnlyList<QuantizeRequest> batch) => inner.Quantize(weights, batch);

    public Task<string> WriteUnitAsync(IQuantizedUnit unit) => inner.WriteUnitAsync(unit);

    public IActivations ForwardQuantized(ILayerWeights weights, IActivations input, IReadOnlyDictionary<UnitId, IQuantizedUnit> quantized) =>
        inner.ForwardQuantized(weights, input, quantized);

    public Task<string> WriteShardAsync(int layer, int shard, IActivations output) => inner.WriteShardAsync(layer, shard, output);

    public void Dispose() => (inner as IDisposable)?.Dispose();
}
