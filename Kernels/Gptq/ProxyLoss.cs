using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.LinearAlgebra;
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
    /// On CUDA: the first candidate's product on 3xTF32 tensor cores (fp32-accurate) and the others' and the weight's on
    /// TF32 (10 mantissa bits), at about a third of the time of all on 3xTF32. The first candidate is GPTQ's result,
    /// whose error GPTQ steers into H's small directions: its trace cancels, and TF32 moved it by up to 0.15% on
    /// DeepSeek-V3-sized problems. The weight's and round-to-nearest's errors have no such design. Plain fp32 otherwise.
    /// </param>
    /// <returns>(candidates + 1) float64.</returns>
    internal static Tensor Traces(Tensor hessian, Tensor weight, IReadOnlyList<Tensor> candidates, bool fast)
    {
        using var scope = NewDisposeScope();
        var rows = weight.shape[0];
        var operands = candidates.Select(c => c - weight).Prepend(weight).ToArray();
        if (!fast || weight.device_type != DeviceType.CUDA || candidates.Count == 0)
        {
            // W and every W−Q stacked, one GEMM with H for all of them.
            return Sum(cat(operands, 0), stacked => stacked.mm(hessian), operands.Length, rows).MoveToOuterDisposeScope();
        }

        var h = hessian.unsqueeze(0);
        var accurate = Sum(operands[1], a => Fp32Bmm.Multiply(a.unsqueeze(0), h).squeeze(0), 1, rows);
        var rough = Sum(cat([operands[0], .. operands[2..]], 0), a => Tf32Matmul.Bmm(a.unsqueeze(0), h).squeeze(0), operands.Length - 1, rows);
        return cat([rough.narrow(0, 0, 1), accurate, rough.narrow(0, 1, operands.Length - 2)], 0).MoveToOuterDisposeScope();
    }

    // tr(A H Aᵀ) = Σ (A H) ∘ A of each of the count (rows, C) blocks stacked in a, summed in fp64.
    private static Tensor Sum(Tensor a, Func<Tensor, Tensor> timesHessian, int count, long rows) =>
        (timesHessian(a) * a).sum(1, type: ScalarType.Float64).view(count, rows).sum(1);

    /// <summary>Each candidate's trace over the weight's; null when the weight's is not positive.</summary>
    internal static double?[] Ratios(IReadOnlyList<double> traces)
    {
        var reference = traces[0];
        return traces.Skip(1).Select(t => reference > 0 ? t / reference : (double?)null).ToArray();
    }
}
