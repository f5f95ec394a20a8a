using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>The relative calibration output error <c>tr((W−Q) H (W−Q)ᵀ) / tr(W H Wᵀ)</c> (MoE-Quant <c>--log_error</c>).</summary>
public static class ProxyLoss
{
    /// <summary>Relative loss of each candidate against <paramref name="weight"/>.</summary>
    /// <param name="hessian">(columns, columns) float32, natural column order, undamped.</param>
    /// <param name="weight">(rows, columns) float32, natural order.</param>
    /// <param name="candidates">(rows, columns) float32 each, natural order.</param>
    /// <returns>One figure per candidate; null when <c>tr(W H Wᵀ)</c> is not positive.</returns>
    public static double?[] Relative(Tensor hessian, Tensor weight, IReadOnlyList<Tensor> candidates)
    {
        using var scope = NewDisposeScope();
        var rows = weight.shape[0];
        // 1) W and every W−Q stacked, one GEMM with H for all of them; tr(A H Aᵀ) = Σ (A H) ∘ A, summed in fp64.
        var stacked = cat(candidates.Select(c => c - weight).Prepend(weight).ToArray(), 0);
        var perRow = (stacked.mm(hessian) * stacked).sum(1, type: ScalarType.Float64);
        var traces = perRow.view(candidates.Count + 1, rows).sum(1).cpu().data<double>().ToArray();
        var reference = traces[0];
        return traces.Skip(1).Select(t => reference > 0 ? t / reference : (double?)null).ToArray();
    }
}
