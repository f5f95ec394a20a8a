using MoeQuant.Kernels.Quantization;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Tests.Gptq;

/// <summary>
/// The quantizer of GPTQ.md §4 in float64, written independently of the engine: absmax and the MSE grid search, scales
/// rounded to the storage dtype, unsigned codes. Near-ties may be settled by the engine's choice (the oracle) when the
/// alternatives are equal within <see cref="TieTolerance"/>: such a difference is fp32 rounding, not a bug.
/// </summary>
internal sealed class TextbookQuantizer(QuantizerSpec spec)
{
    public const double TieTolerance = 1e-5;

    public QuantizerSpec Spec { get; } = spec;

    public int TieBrokenScales { get; private set; }

    public double RoundScale(double raw) => Math.Max(RoundToDtype(raw), Spec.SmallestScale);

    public double RoundToDtype(double x)
    {
        if (x == 0 || Spec.ScaleDtype == ScalarType.Float32)
        {
            return (float)x;
        }

        // Significand bits: 8 for bf16, 11 for fp16 (whose subnormals below 2^-14 share the spacing 2^-24).
        var (precision, minExponent) = Spec.ScaleDtype == ScalarType.BFloat16 ? (8, -126) : (11, -14);
        var ulp = Math.ScaleB(1.0, Math.Max(Math.ILogB(x), minExponent) - (precision - 1));
        return Math.Round(x / ulp, MidpointRounding.ToEven) * ulp;
    }

    public int Code(double x) =>
        (int)Math.Clamp(Spec.Rounding == CodeRounding.HalfUp ? Math.Floor(x + 0.5) : Math.Round(x, MidpointRounding.ToEven), 0, Spec.MaxCode);

    public double Value(int code, double scale, int zero) => RoundToDtype((code - zero) * scale);

    /// <summary>Scale and zero point of one group; <paramref name="oracle"/> settles near-ties.</summary>
    public (double Scale, int Zero) Fit(IReadOnlyList<double> group, (double Scale, int Zero)? oracle)
    {
        double raw;
        var zero = Spec.ZeroOffset;
        var lo = Math.Min(group.Min(), 0);
        if (Spec.Symmetric)
        {
            raw = 2.0 / Spec.MaxCode * group.Max(Math.Abs);
        }
        else
        {
            raw = (Math.Max(group.Max(), 0) - lo) / Spec.MaxCode;
        }

        var scale = RoundScale(raw);
        if (Spec.Search == ScaleSearch.AbsMax && oracle is { } o && o.Scale != scale && o.Scale == RoundScale(raw * (1 + Math.Sign(o.Scale - scale) * TieTolerance)))
        {
            // raw lies within the tolerance of a rounding midpoint of the scale dtype.
            (scale, TieBrokenScales) = (o.Scale, TieBrokenScales + 1);
        }

        if (!Spec.Symmetric)
        {
            var exact = -lo / scale;
            zero = (int)Math.Clamp(Math.Round(exact, MidpointRounding.ToEven), 0, Spec.MaxCode);
            if (oracle is { } oz && Math.Abs(oz.Zero - zero) == 1 && Math.Abs(exact - Math.Floor(exact) - 0.5) < TieTolerance)
            {
                (zero, TieBrokenScales) = (oz.Zero, TieBrokenScales + 1);
            }
        }

        return Spec.Search == ScaleSearch.Mse ? (SearchMse(group, scale, zero, oracle?.Scale), zero) : (scale, zero);
    }

    private double SearchMse(IReadOnlyList<double> group, double scale, int zero, double? oracle)
    {
        var losses = new double[100];
        var candidates = new double[100];
        for (var k = 0; k < 100; k++)
        {
            candidates[k] = RoundScale(scale * (1.0 + k * (0.2 - 1.0) / 99));
            losses[k] = group.Sum(x => Math.Pow(Math.Abs((Code((x / candidates[k]) + zero) - zero) * candidates[k] - x), 2.4));
        }

        var best = Array.IndexOf(losses, losses.Min());
        if (oracle is { } o && o != candidates[best])
        {
            var alternative = Array.IndexOf(candidates, o);
            if (alternative >= 0 && losses[alternative] <= losses[best] * (1 + TieTolerance))
            {
                TieBrokenScales++;
                return o;
            }
        }

        return candidates[best];
    }
}
