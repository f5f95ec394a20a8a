using MoeQuant.Kernels.Fp8;

namespace MoeQuant.Model.Synthetic;

/// <summary>
/// Normal draws by table: a 16-bit uniform draw <c>u</c> picks the standard normal quantile at (u + ½) / 65536, so
/// every value costs a table look-up instead of a transcendental. The 65,536 values reach ±4.33σ.
/// </summary>
internal static class NormalQuantiles
{
    /// <summary>Standard deviation of the FP8 codes' values: large enough to use E4M3's precision, with the
    /// extreme quantile (4.33σ) at 433, just inside the largest finite value 448, so no code clips or is NaN.</summary>
    private const double CodeScale = 100;

    /// <summary>Standard normal quantiles, ascending: entry u is Φ⁻¹((u + ½) / 65536).</summary>
    public static readonly float[] Values = Build();

    /// <summary>E4M3 codes of <see cref="Values"/> × 100 (round to nearest, ties to even): a 16-bit draw gives a code.</summary>
    public static readonly byte[] Fp8Codes = [.. Values.Select(v => EncodeE4M3(v * CodeScale))];

    /// <summary>Root mean square of the values <see cref="Fp8Codes"/> decode to, over all 65,536 draws (≈ 100).</summary>
    public static readonly double Fp8CodeRms = Math.Sqrt(Fp8Codes.Average(c => (double)Fp8E4M3.Decode(c) * Fp8E4M3.Decode(c)));

    private static float[] Build()
    {
        var values = new float[65536];
        for (var u = 0; u < values.Length; u++)
        {
            values[u] = (float)InverseNormal((u + 0.5) / 65536);
        }

        return values;
    }

    /// <summary>The nearest finite E4M3 code of <paramref name="value"/> (|value| ≤ 448), ties to the even code.</summary>
    internal static byte EncodeE4M3(double value)
    {
        var magnitude = Math.Abs(value);
        var table = Fp8E4M3.Table;
        // Codes 0x00..0x7E are the non-negative finite values in ascending order.
        var code = 0;
        while (code < 0x7E && table[code + 1] <= magnitude)
        {
            code++;
        }

        if (code < 0x7E)
        {
            var below = magnitude - table[code];
            var above = table[code + 1] - magnitude;
            if (above < below || (above == below && (code & 1) == 1))
            {
                code++;
            }
        }

        return (byte)(value < 0 && code != 0 ? code | 0x80 : code);
    }

    /// <summary>Φ⁻¹(p) for 0 &lt; p &lt; 1 (Acklam's rational approximation, relative error below 1.2e-9).</summary>
    private static double InverseNormal(double p)
    {
        double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        const double low = 0.02425;
        if (p < low || p > 1 - low)
        {
            var q = Math.Sqrt(-2 * Math.Log(p < low ? p : 1 - p));
            var x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
            return p < low ? x : -x;
        }

        var r = p - 0.5;
        var s = r * r;
        return (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r
            / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1);
    }
}
