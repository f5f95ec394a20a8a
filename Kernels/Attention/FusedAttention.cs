using System.Collections.Concurrent;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Attention;

/// <summary>
/// libtorch's fused causal scaled-dot-product attention with an explicit softmax scale. TorchSharp 0.107 binds
/// <c>scaled_dot_product_attention</c> without its <c>scale</c> argument, and pre-scaling the queries instead would add a
/// rounding in bf16 that the fused kernels of transformers don't have; the ATen operators are reached through one-line
/// TorchScript functions instead, compiled once per kernel and scale.
/// </summary>
public static class FusedAttention
{
    // The scale is a literal of the script rather than an argument: TorchSharp marshals a double argument of
    // CompilationUnit.invoke through a Scalar that the GC may free before the native call reads it.
    private static readonly ConcurrentDictionary<(AttentionKernel, double), Lazy<jit.CompilationUnit>> Compiled = new();

    /// <summary>softmax(q·kᵀ·<paramref name="scale"/> + causal mask)·v, per batch and head.</summary>
    /// <param name="query">[B, heads, T, d] bf16 or f32, last dim contiguous (a [B, T, heads, d] tensor transposed is
    /// the layout the kernels read without a copy).</param>
    /// <param name="key">[B, heads, T, d], same dtype and device.</param>
    /// <param name="value">[B, heads, T, dv] with dv ≤ d. When the kernel needs equal widths it is zero-padded to d
    /// for the call: zero columns leave the others' results unchanged.</param>
    /// <param name="scale">Multiplies the scores before the softmax (instead of 1/√d).</param>
    /// <param name="kernel">Which kernel; <see cref="AttentionKernel.PaddedAuto"/> works on every device.</param>
    /// <returns>[B, heads, T, dv] of the input dtype.</returns>
    public static Tensor Causal(Tensor query, Tensor key, Tensor value, double scale, AttentionKernel kernel = AttentionKernel.PaddedAuto)
    {
        using var scope = NewDisposeScope();
        var width = value.shape[^1];
        var pad = width < query.shape[^1] && kernel is AttentionKernel.PaddedAuto or AttentionKernel.Flash;
        var padded = pad ? nn.functional.pad(value, [0, query.shape[^1] - width]) : value;
        var attended = Function(kernel, scale).invoke<Tensor>("causal", query, key, padded);
        return (pad ? attended.narrow(-1, 0, width) : attended).MoveToOuterDisposeScope();
    }

    /// <summary>The compiled function of a kernel and scale; compiling checks the operator's signature, on any device.</summary>
    internal static jit.CompilationUnit Function(AttentionKernel kernel, double scale) =>
        Compiled.GetOrAdd((kernel, scale), key => new Lazy<jit.CompilationUnit>(() => jit.compile(Script(key.Item1, key.Item2)))).Value;

    // "R" prints the double so that it parses back to the same value; TorchScript wants a final newline. The private
    // operators return tuples whose first element is the output.
    private static string Script(AttentionKernel kernel, double scale)
    {
        var s = scale.ToString("R", CultureInfo.InvariantCulture);
        var body = kernel switch
        {
            AttentionKernel.PaddedAuto or AttentionKernel.Auto => $"torch.scaled_dot_product_attention(q, k, v, None, 0.0, True, scale={s})",
            AttentionKernel.Flash => $"torch._scaled_dot_product_flash_attention(q, k, v, 0.0, True, False, scale={s})[0]",
            AttentionKernel.Efficient => $"torch._scaled_dot_product_efficient_attention(q, k, v, None, False, 0.0, True, scale={s})[0]",
            AttentionKernel.Cudnn => $"torch._scaled_dot_product_cudnn_attention(q, k, v, None, False, 0.0, True, False, scale={s})[0]",
            _ => throw new ArgumentOutOfRangeException(nameof(kernel), kernel, null),
        };
        return $"""
            def causal(q: Tensor, k: Tensor, v: Tensor):
                return {body}
            """ + "\n";
    }
}
