using MoeQuant.Kernels.Cuda;
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
        using var traces = Traces(hessian, weight, candidates, fast: false);
        return Ratios(traces.cpu().data<double>().ToArray());
    }

    /// <summary>
    /// <c>tr(W H Wᵀ)</c> then <c>tr((C−W) H (C−W)ᵀ)</c> for every candidate C, on the device (no synchronization).
    /// </summary>
    /// <param name="hessian">(columns, columns) float32.</param>
    /// <param name="weight">(rows, columns) float32.</param>
    /// <param name="candidates">(rows, columns) float32 each.</param>
    /// <param name="fast">
    /// On CUDA, the product on TF32 tensor cores (10 mantissa bits), at a third of the time of 3xTF32: these losses are a
    /// report, not an input to any decision. GPTQ steers its error into H's small directions, so the trace of its
    /// result cancels and TF32 moved it by up to 0.15% on DeepSeek-V3-sized problems (3xTF32 for that one candidate
    /// alone cost 3.3 ms more per expert). Plain fp32 otherwise.
    /// </param>
    /// <returns>(candidates + 1) float64.</returns>
    internal static Tensor Traces(Tensor hessian, Tensor weight, IReadOnlyList<Tensor> candidates, bool fast)
    {
        using var scope = NewDisposeScope();
        var rows = weight.shape[0];
        // 1) W and every W−Q stacked, one GEMM with H for all of them; tr(A H Aᵀ) = Σ (A H) ∘ A, summed in fp64.
        var stacked = cat(candidates.Select(c => c - weight).Prepend(weight).ToArray(), 0);
        var product = fast && stacked.device_type == DeviceType.CUDA
            ? Tf32Matmul.Bmm(stacked.unsqueeze(0), hessian.unsqueeze(0)).squeeze(0)
            : stacked.mm(hessian);
        var perRow = (product * stacked).sum(1, type: ScalarType.Float64);
        return perRow.view(candidates.Count + 1, rows).sum(1).MoveToOuterDisposeScope();
    }

    /// <summary>Each candidate's trace over the weight's; null when the weight's is not positive.</summary>
    internal static double?[] Ratios(IReadOnlyList<double> traces)
    {
        var reference = traces[0];
        return traces.Skip(1).Select(t => reference > 0 ? t / reference : (double?)null).ToArray();
    }
}
