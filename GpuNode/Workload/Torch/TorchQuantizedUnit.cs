using MoeQuant.Kernels.Gptq;
using MoeQuant.Messages;

namespace MoeQuant.GpuNode.Workload.Torch;

/// <summary>The GPTQ results of a unit's linears, on the device that quantized them.</summary>
/// <param name="unit">The unit.</param>
/// <param name="linears">Each linear's name relative to the layer (<c>mlp.experts.5.up_proj</c>) and its result.</param>
internal sealed class TorchQuantizedUnit(UnitId unit, IReadOnlyList<(string Name, QuantResult Result)> linears) : IQuantizedUnit
{
    public UnitId Unit { get; } = unit;

    public IReadOnlyList<(string Name, QuantResult Result)> Linears { get; } = linears;

    /// <summary>Mean relative proxy loss over the linears (NaN when none could be estimated).</summary>
    public double Loss => Mean(Linears.Select(l => l.Result.GptqLoss));

    public double RtnLoss => Mean(Linears.Select(l => l.Result.RtnLoss));

    public QuantIssues Issues => Linears.Aggregate(QuantIssues.None, (issues, l) => issues | Map(l.Result.Issues));

    public void Dispose()
    {
        foreach (var (_, result) in Linears)
        {
            result.Dispose();
        }
    }

    private static double Mean(IEnumerable<double?> values) =>
        values.OfType<double>().DefaultIfEmpty(double.NaN).Average();

    private static QuantIssues Map(GptqIssues issues) =>
        (issues.HasFlag(GptqIssues.ZeroSamples) ? QuantIssues.ZeroSamples : QuantIssues.None)
        | (issues.HasFlag(GptqIssues.NonInvertible) ? QuantIssues.NonInvertible : QuantIssues.None);
}
