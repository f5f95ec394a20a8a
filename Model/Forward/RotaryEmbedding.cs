using MoeQuant.Model.Config;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>
/// Rotary position embedding of the rope part of q and k (qk_rope_head_dim wide), with YaRN scaling as transformers'
/// <c>_compute_yarn_parameters</c> computes it. All frequency arithmetic is f32, as there, so that positions in the
/// thousands give the same angles.
/// </summary>
internal sealed class RotaryEmbedding
{
    private readonly float[] _inverseFrequencies;
    private readonly float _attentionFactor;
    private readonly bool _interleaved;

    public RotaryEmbedding(DeepseekV3Config config)
    {
        var dim = config.QkRopeHeadDim;
        var theta = (float)config.RopeTheta;
        _interleaved = config.RopeInterleave;
        _inverseFrequencies = new float[dim / 2];
        var scaling = config.RopeScaling;
        if (scaling is not null && scaling.Type != "yarn")
        {
            throw new NotSupportedException($"rope scaling '{scaling.Type}' is not supported; DeepSeek-V3 uses 'yarn'");
        }

        for (var i = 0; i < dim / 2; i++)
        {
            var posFreq = MathF.Pow(theta, (float)(2 * i) / dim);
            _inverseFrequencies[i] = 1f / posFreq;
        }

        _attentionFactor = scaling is null ? 1f : ApplyYarn(scaling, dim, theta);
    }

    /// <summary>
    /// Cosines and sines of the rotation angles, each [B, T, r/2] of <paramref name="dtype"/>, already multiplied by
    /// YaRN's attention factor (f32, then rounded, as transformers does).
    /// </summary>
    /// <param name="positions">[B, T] or [T], int64.</param>
    /// <param name="dtype">The compute dtype.</param>
    public (Tensor Cos, Tensor Sin) Angles(Tensor positions, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var p = positions.dim() == 1 ? positions.unsqueeze(0) : positions;
        var freqs = tensor(_inverseFrequencies, device: p.device);
        var angles = p.to_type(ScalarType.Float32).unsqueeze(-1).mul(freqs);
        var cos = angles.cos().mul(_attentionFactor).to_type(dtype);
        var sin = angles.sin().mul(_attentionFactor).to_type(dtype);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Rotates <paramref name="x"/> [B, heads, T, r]. Interleaved layouts pair dims (2j, 2j+1), the other layout pairs
    /// (j, j + r/2); both return the pairs' first members then their second members, as transformers'
    /// <c>apply_rotary_pos_emb(_interleave)</c> do, so the result is laid out the same either way.
    /// </summary>
    public Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        var r = x.shape[^1];
        var (a, b) = _interleaved
            ? (x.slice(-1, 0, r, 2), x.slice(-1, 1, r, 2))
            : (x.narrow(-1, 0, r / 2), x.narrow(-1, r / 2, r / 2));
        var c = cos.unsqueeze(1);
        var s = sin.unsqueeze(1);
        return cat([a.mul(c).sub(b.mul(s)), b.mul(c).add(a.mul(s))], -1).MoveToOuterDisposeScope();
    }

    /// <summary>Blends the frequencies for YaRN in place and returns its attention factor.</summary>
    private float ApplyYarn(RopeScaling scaling, int dim, float theta)
    {
        var factor = scaling.Factor;

        // 1) dims rotating fewer than beta_slow times over the original context are interpolated, more than beta_fast
        //    extrapolated, with a linear ramp between (bounds truncated to whole dims as transformers' default).
        double CorrectionDim(double rotations) =>
            dim * Math.Log(scaling.OriginalMaxPositionEmbeddings / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
        var low = Math.Max(Math.Floor(CorrectionDim(scaling.BetaFast)), 0);
        var high = Math.Min(Math.Ceiling(CorrectionDim(scaling.BetaSlow)), dim - 1);
        if (low == high)
        {
            high += 0.001;
        }

        // 2) blend per dim: inv_freq = interp·(1 − e) + extrap·e with e = 1 − ramp, in f32.
        for (var i = 0; i < _inverseFrequencies.Length; i++)
        {
            var extrapolation = _inverseFrequencies[i];
            var interpolation = 1f / ((float)factor * MathF.Pow(theta, (float)(2 * i) / dim));
            var ramp = Math.Clamp((i - (float)low) / (float)(high - low), 0f, 1f);
            var extrapolationFactor = 1f - ramp;
            _inverseFrequencies[i] = (interpolation * (1f - extrapolationFactor)) + (extrapolation * extrapolationFactor);
        }

        // 3) attention factor: the mscale/mscale_all_dim ratio when both are set, else YaRN's default 0.1·ln(f) + 1.
        return scaling is { Mscale: not 0.0, MscaleAllDim: not 0.0 }
            ? (float)(scaling.YarnMscale(scaling.Mscale) / scaling.YarnMscale(scaling.MscaleAllDim))
            : (float)scaling.YarnMscale(1.0);
    }
}
