using MoeQuant.Kernels.Fused;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>DeepSeek-V3's RMSNorm, computed as transformers does: statistics in f32, rounded back, then scaled.</summary>
internal static class RmsNorm
{
    /// <summary>
    /// The eps of <c>q_a_layernorm</c> and <c>kv_a_layernorm</c>: transformers and DeepSeek's reference build both
    /// with the constructor default rather than <c>rms_norm_eps</c>.
    /// </summary>
    public const double LatentEps = 1e-6;

    /// <param name="x">[..., d] of the compute dtype.</param>
    /// <param name="weight">[d] of the compute dtype.</param>
    /// <param name="eps">Added to the mean square.</param>
    /// <param name="fused">Use <see cref="FusedRmsNorm"/> where it applies (bf16 on CUDA): the same roundings in one pass.</param>
    /// <returns>weight · (x / rms(x)) in the compute dtype; the f32 normalised value is rounded before the scale,
    /// as in transformers' <c>DeepseekV3RMSNorm</c>.</returns>
    public static Tensor Apply(Tensor x, Tensor weight, double eps, bool fused = false)
    {
        if (fused && Rows(x) is { } rows && FusedRmsNorm.Applies(rows, weight))
        {
            return FusedRmsNorm.Apply(rows, weight, eps).view(x.shape);
        }

        using var scope = NewDisposeScope();
        var xf = x.to_type(ScalarType.Float32);
        var variance = xf.pow(2).mean([-1L], keepdim: true);
        var normed = xf.mul(variance.add(eps).rsqrt()).to_type(x.dtype);
        return weight.mul(normed).MoveToOuterDisposeScope();
    }

    // [N, d] as the kernel reads it: a 2-D tensor as it is (its rows may be strided), a contiguous one flattened.
    private static Tensor? Rows(Tensor x) => x.dim() == 2 ? x : x.is_contiguous() ? x.view(-1, x.shape[^1]) : null;
}
