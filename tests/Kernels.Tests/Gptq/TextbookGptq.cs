using MoeQuant.Kernels.Gptq;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>
/// GPTQ straight from the paper (Frantar et al. 2022, eqs. 2–4), in float64: column by column, no blocks, no lazy
/// updates, no Cholesky reformulation. After quantizing column q it applies the OBS update
/// <c>δ = −(w_q − quant(w_q)) / [H⁻¹]_qq · (H⁻¹)_{:,q}</c> to the remaining columns and removes q from the inverse by
/// Gaussian elimination, <c>H⁻¹ ← H⁻¹ − H⁻¹_{:,q} H⁻¹_{q,:} / [H⁻¹]_qq</c>. Preparation follows GPTQ.md §1.3 and §3.1:
/// dead columns, act-order, damping, static or dynamic groups.
/// </summary>
internal static class TextbookGptq
{
    /// <summary>Codes (unsigned, natural order) and scales of a run, and how many near-ties the oracle settled.</summary>
    public sealed record Outcome(int[,] Codes, double[,] Scales, int[,] Zeros, int[] GroupOfColumn, int TieBrokenCodes, int TieBrokenScales);

    /// <summary>The engine's decisions (unsigned codes, scales and zeros by group), consulted only on near-ties.</summary>
    public sealed record Oracle(int[,] Codes, double[,] Scales, int[,] Zeros);

    public static Outcome Run(double[,] weight, double[,] hessian, GptqOptions options, Oracle? oracle)
    {
        var (rows, columns) = (weight.GetLength(0), weight.GetLength(1));
        var w = (double[,])weight.Clone();
        var h = (double[,])hessian.Clone();
        var quantizer = new TextbookQuantizer(options.ToQuantizerSpec());
        var groupSize = options.GroupSize < 0 ? columns : options.GroupSize;

        // 1) dead columns: diag := 1, weights := 0.
        for (var c = 0; c < columns; c++)
        {
            if (h[c, c] == 0)
            {
                h[c, c] = 1;
                for (var r = 0; r < rows; r++)
                {
                    w[r, c] = 0;
                }
            }
        }

        // 2) order, then the damped inverse in that order.
        var order = Enumerable.Range(0, columns).ToArray();
        if (options.Order == QuantizationOrder.Activation)
        {
            order = order.OrderByDescending(c => h[c, c]).ToArray();
        }

        var damp = options.RelDamp * Enumerable.Range(0, columns).Average(c => h[c, c]);
        var inverse = Linear.InverseSpd(columns, (i, j) => h[order[i], order[j]] + (i == j ? damp : 0));

        // 3) groups: static ones fitted now on the original weight; dynamic ones when their first column comes up.
        var scales = new double[rows, columns / groupSize];
        var zeros = new int[rows, columns / groupSize];
        var groupAt = order.Select((c, j) => options.StaticGroups ? c / groupSize : j / groupSize).ToArray();
        void FitGroup(int g, Func<int, int> columnOf)
        {
            for (var r = 0; r < rows; r++)
            {
                var values = Enumerable.Range(0, groupSize).Select(i => w[r, columnOf(i)]).ToArray();
                (double, int)? hint = oracle is null ? null : (oracle.Scales[r, g], oracle.Zeros[r, g]);
                (scales[r, g], zeros[r, g]) = quantizer.Fit(values, hint);
            }
        }

        if (options.StaticGroups)
        {
            for (var g = 0; g < columns / groupSize; g++)
            {
                FitGroup(g, i => (g * groupSize) + i);
            }
        }

        // 4) column by column.
        var codes = new int[rows, columns];
        var tieBrokenCodes = 0;
        for (var q = 0; q < columns; q++)
        {
            var column = order[q];
            var g = groupAt[q];
            if (!options.StaticGroups && q % groupSize == 0)
            {
                FitGroup(g, i => order[q + i]);
            }

            for (var r = 0; r < rows; r++)
            {
                var ratio = w[r, column] / scales[r, g];
                var x = ratio + zeros[r, g];
                var code = quantizer.Code(x);
                var engine = oracle?.Codes[r, column];
                // fp32 carries w/s with a relative error of about 1e-6, so a tie is judged relative to |w/s|.
                var tie = TextbookQuantizer.TieTolerance * (1 + Math.Abs(ratio));
                if (engine is { } e && Math.Abs(e - code) == 1 && Math.Abs(x - Math.Floor(x) - 0.5) < tie)
                {
                    (code, tieBrokenCodes) = (e, tieBrokenCodes + 1);
                }

                codes[r, column] = code;
                var error = (w[r, column] - quantizer.Value(code, scales[r, g], zeros[r, g])) / inverse[q, q];
                for (var k = q + 1; k < columns; k++)
                {
                    w[r, order[k]] -= error * inverse[q, k];
                }
            }

            for (var a = q + 1; a < columns; a++)
            {
                for (var b = q + 1; b < columns; b++)
                {
                    inverse[a, b] -= inverse[a, q] * inverse[q, b] / inverse[q, q];
                }
            }
        }

        var groupOfColumn = new int[columns];
        for (var j = 0; j < columns; j++)
        {
            groupOfColumn[order[j]] = groupAt[j];
        }

        return new Outcome(codes, scales, zeros, groupOfColumn, tieBrokenCodes, quantizer.TieBrokenScales);
    }
}
