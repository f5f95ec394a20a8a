using System.Collections.Concurrent;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Attention;

/// <summary>
/// libtorch's fused causal scaled-dot-product attention with an explicit softmax scale. TorchSharp 0.107 binds
/// <c>scaled_dot_product_attention</c> without its <c>scale</c> argument, and pre-scaling the queries instead would add a
/// rounding in bf16 that the fused kernels of transformers don't have; the ATen operator is reached through a one-line
/// TorchScript function instead, compiled once per scale.
/// </summary>
public static class FusedAttention
{
    // The scale is a literal of the script rather than an argument: TorchSharp marshals a double argument of
    // CompilationUnit.invoke through a Scalar that the GC may free before the native call reads it.
    private static readonly ConcurrentDictionary<double, Lazy<jit.CompilationUnit>> Compiled = new();

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
        var function = Compiled.GetOrAdd(scale, s => new Lazy<jit.CompilationUnit>(() => jit.compile(Script(s)))).Value;
        var attended = function.invoke<Tensor>("causal", query, key, padded);
        return attended.narrow(-1, 0, width).MoveToOuterDisposeScope();
    }

    // "R" prints the double so that it parses back to the same value; TorchScript wants a final newline.
    private static string Script(double scale) =>
        $"""
        def causal(q: Tensor, k: Tensor, v: Tensor):
            return torch.scaled_dot_product_attention(q, k, v, None, 0.0, True, scale={scale.ToString("R", CultureInfo.InvariantCulture)})
        """ + "\n";
}
