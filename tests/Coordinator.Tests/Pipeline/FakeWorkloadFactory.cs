using System.Globalization;
using MoeQuant.Coordinator.Hosting;
using MoeQuant.GpuNode.Durability;
using MoeQuant.GpuNode.Tests.Fakes;
using MoeQuant.GpuNode.Workload;

namespace MoeQuant.Coordinator.Tests.Pipeline;

/// <summary>Serves <see cref="FakeWorkload"/> to <c>moequant quantize</c>. MOEQUANT_FAKE_STEP_DELAY_MS slows every
/// device step down, so that a child-process test can kill a run in the middle of a phase.</summary>
internal sealed class FakeWorkloadFactory(int layers = 3, int shards = 4) : IWorkloadFactory
{
    public const string StepDelayVariable = "MOEQUANT_FAKE_STEP_DELAY_MS";

    public ModelIdentity Describe(QuantizeSettings settings) => new("fake-moe", $"fake-moe-{layers}x{shards}");

    /// <summary>The pause before every device step that <see cref="StepDelayVariable"/> asks for (0 when unset).</summary>
    public static int StepDelayMs =>
        int.TryParse(Environment.GetEnvironmentVariable(StepDelayVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? ms : 0;

    public ILayerWorkload Create(QuantizeSettings settings, RunLayout layout) => new FakeWorkload(layout, layers, shards, settings.Gptq.Bits, StepDelayMs);
}
