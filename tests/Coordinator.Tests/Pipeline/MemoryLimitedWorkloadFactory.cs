using MoeQuant.Coordinator.Hosting;
using MoeQuant.GpuNode.Durability;
using MoeQuant.GpuNode.Tests.Fakes;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Model.Export;

namespace MoeQuant.Coordinator.Tests.Pipeline;

/// <summary>Serves another factory's workload on devices that run out of memory when a calibration wave holds more units
/// than the layer's limit (<see cref="MemoryLimitedWorkload"/>).</summary>
internal sealed class MemoryLimitedWorkloadFactory(IWorkloadFactory inner, Func<int, int> maxWaveUnits) : IWorkloadFactory
{
    public ModelIdentity Describe(QuantizeSettings settings) => inner.Describe(settings);

    public ILayerWorkload Create(QuantizeSettings settings, RunLayout layout) => new MemoryLimitedWorkload(inner.Create(settings, layout), maxWaveUnits);

    public ExportResult? Export(QuantizeSettings settings, RunLayout layout) => inner.Export(settings, layout);
}
