using MoeQuant.Kernels.Gptq;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>Small helpers shared by the GPTQ tests.</summary>
internal static class TestWeights
{
    public static GptqOptions Options(int groupSize = 32) => new() { GroupSize = groupSize };

    /// <summary><c>tr(A H Aᵀ) / tr(W H Wᵀ)</c> in float64 with A = dequantized − W.</summary>
    public static double RelativeLoss(Tensor dequantized, Tensor weight, double[,] hessian)
    {
        var q = Problem.ToDouble(dequantized.to_type(ScalarType.Float32));
        var w = Problem.ToDouble(weight.to_type(ScalarType.Float32));
        var delta = (double[,])q.Clone();
        for (var r = 0; r < delta.GetLength(0); r++)
        {
            for (var c = 0; c < delta.GetLength(1); c++)
            {
                delta[r, c] -= w[r, c];
            }
        }

        return Linear.Trace(delta, hessian) / Linear.Trace(w, hessian);
    }

    /// <summary>(columns, columns) permuted copy <c>H[order][:, order]</c>.</summary>
    public static double[,] Permute(double[,] h, int[] order)
    {
        var n = order.Length;
        var p = new double[n, n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                p[i, j] = h[order[i], order[j]];
            }
        }

        return p;
    }

    /// <summary>Act-order of a Hessian: columns by descending diagonal, ties in natural order.</summary>
    public static int[] ActOrder(double[,] h) =>
        Enumerable.Range(0, h.GetLength(0)).OrderByDescending(c => h[c, c]).ToArray();
}
