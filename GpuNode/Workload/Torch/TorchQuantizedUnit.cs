using MoeQuant.Kernels.Gptq;
using MoeQuant.Messages;
using static TorchSharp.torch;

namespace MoeQuant.GpuNode.Workload.Torch;

/// <summary>The GPTQ results of a unit's linears: all of them on the device that quantized them until the state file is
/// written, then (<see cref="Park"/>) only the dequantized weights the quantized forward needs, in host memory. A
/// DeepSeek-V3 MoE layer's results are about 34 GB; parked, they leave the device free for the next wave.</summary>
internal sealed class TorchQuantizedUnit : IQuantizedUnit
{
    private IReadOnlyList<(string Name, QuantResult Result)>? _results;
    private IReadOnlyList<(string Name, Tensor Weight)> _weights;
    private bool _parked;

    /// <param name="unit">The unit.</param>
    /// <param name="results">Each linear's name relative to the layer (<c>mlp.experts.5.up_proj</c>) and its result.</param>
    public TorchQuantizedUnit(UnitId unit, IReadOnlyList<(string Name, QuantResult Result)> results)
    {
        Unit = unit;
        _results = results;
        _weights = [.. results.Select(l => (l.Name, l.Result.Dequantized))];
        Loss = Mean(results.Select(l => l.Result.GptqLoss));
        RtnLoss = Mean(results.Select(l => l.Result.RtnLoss));
        Issues = results.Aggregate(QuantIssues.None, (issues, l) => issues | Map(l.Result.Issues));
    }

    public UnitId Unit { get; }

    /// <summary>Mean relative proxy loss over the linears (NaN when none could be estimated).</summary>
    public double Loss { get; }

    public double RtnLoss { get; }

    public QuantIssues Issues { get; }

    /// <summary>Codes, scales, zero points and g_idx, for the state file; gone once parked.</summary>
    public IReadOnlyList<(string Name, QuantResult Result)> Results =>
        _results ?? throw new InvalidOperationException($"{Unit}: the results were parked after the state file was written");

    /// <summary>The weight each linear's inference kernel reconstructs, for the quantized forward.</summary>
    public IReadOnlyList<(string Name, Tensor Weight)> Weights => _weights;

    /// <summary>Keeps only the dequantized weights, moved to host memory, and frees the rest.</summary>
    public void Park()
    {
        if (_parked)
        {
            return;
        }

        _weights = [.. _weights.Select(w => (w.Name, w.Weight.cpu()))];
        DisposeResults();
        _parked = true;
    }

    public void Dispose()
    {
        DisposeResults();
        if (_parked)
        {
            foreach (var (_, weight) in _weights)
            {
                weight.Dispose();
            }
        }
    }

    private void DisposeResults()
    {
        foreach (var (_, result) in _results ?? [])
        {
            result.Dispose();
        }

        _results = null;
    }

    private static double Mean(IEnumerable<double?> values) =>
        values.OfType<double>().DefaultIfEmpty(double.NaN).Average();

    private static QuantIssues Map(GptqIssues issues) =>
        (issues.HasFlag(GptqIssues.ZeroSamples) ? QuantIssues.ZeroSamples : QuantIssues.None)
        | (issues.HasFlag(GptqIssues.NonInvertible) ? QuantIssues.NonInvertible : QuantIssues.None);
}
