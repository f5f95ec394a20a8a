using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Attention;

/// <summary>
/// libtorch's fused causal scaled-dot-product attention with an explicit softmax scale. TorchSharp 0.107 binds
/// <c>scaled_dot_product_attention</c> without its <c>scale</c> argument, and pre-scaling the queries instead would add a
/// rounding in bf16 that the fused kernels of transformers don't have; the ATen operator is reached through a one-line
/// TorchScript function, compiled once per process.
/// </summary>
public static class FusedAttention
{
    // TorchScript wants the source to end with a newline, which a raw string literal drops.
    private const string Script = """
        def causal(q: Tensor, k: Tensor, v: Tensor, scale: float):
            return torch.scaled_dot_product_attention(q, k, v, None, 0.0, True, scale=scale)
        """ + "\n";

    private static readonly Lazy<jit.CompilationUnit> Compiled = new(() => jit.compile(Script));

    /// <summary>softmax(q·kᵀ·<paramref name="scale"/> + causal mask)·v, per batch and head.</summary>
    /// <param name="query">[B, heads, T, d] bf16 or f32.</param>
    /// <param name="key">[B, heads, T, d], same dtype and device.</param>
    /// <param name="value">[B, heads, T, dv] with dv ≤ d. When dv &lt; d it is zero-padded to d for the call: the
    /// flash kernels (CPU and CUDA) need equal widths, and zero columns leave the others' results unchanged.</param>
    /// <param name="scale">Multiplies the scores before the softmax (instead of 1/√d).</param>
    /// <returns>[B, heads, T, dv] of the input dtype.</returns>
    public static Tensor Causal(Tensor query, Tensor key, Tensor value, double scale)
    {
        using var scope = NewDisposeScope();
        var width = value.shape[^1];
        var padded = width < query.shape[^1] ? nn.functional.pad(value, [0, query.shape[^1] - width]) : value;
        var attended = Compiled.Value.invoke<Tensor>("causal", query, key, padded, scale);
        return attended.narrow(-1, 0, width).MoveToOuterDisposeScope();
    }
}
