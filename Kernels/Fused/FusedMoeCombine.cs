using MoeQuant.Kernels.Cuda;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Fused;

/// <summary>
/// The routed experts' weighted sum per token in one pass on CUDA (ForwardFusions.cu <c>moe_combine_bf16</c>): each
/// expert output row is read once, weighted and summed in f32 and rounded once, as transformers' grouped experts do,
/// then optionally added to the shared experts' output in bf16. The torch reference unsorts the rows (a copy of
/// [tokens·k, hidden]) and builds [tokens, k, hidden] f32 products before summing them.
/// </summary>
public static class FusedMoeCombine
{
    /// <summary>Whether the kernel takes these tensors.</summary>
    /// <param name="rows">[tokens·k, hidden] contiguous bf16 on CUDA, hidden a multiple of eight.</param>
    /// <param name="addend">[tokens, hidden] like <paramref name="rows"/>, or null.</param>
    public static bool Applies(Tensor rows, Tensor? addend) =>
        BfloatRows.Fit(rows) && rows.is_contiguous() && (addend is null || (BfloatRows.Fit(addend) && addend.is_contiguous()));

    /// <param name="rows">[tokens·k, hidden]: the expert outputs, in any order.</param>
    /// <param name="slotRow">[tokens·k] int64: the row of <paramref name="rows"/> holding token t's j-th choice at t·k + j.</param>
    /// <param name="weights">[tokens, k] f32: the combine weights.</param>
    /// <param name="addend">[tokens, hidden] bf16 added after the rounding, or null.</param>
    /// <returns>[tokens, hidden] bf16.</returns>
    public static Tensor Apply(Tensor rows, Tensor slotRow, Tensor weights, Tensor? addend)
    {
        var (tokens, k) = (weights.shape[0], weights.shape[1]);
        var hidden = rows.shape[1];
        var result = empty([tokens, hidden], ScalarType.BFloat16, rows.device);
        if (tokens == 0)
        {
            return result;
        }

        using var slots = slotRow.to_type(ScalarType.Int64).contiguous();
        using var scale = weights.to_type(ScalarType.Float32).contiguous();
        // 128 threads of eight values each cover DeepSeek-V3's 7168 in seven steps.
        BfloatRows.Kernel(rows, "moe_combine_bf16").Launch(((uint)checked((int)tokens), 1u, 1u), (128u, 1u, 1u), 0,
            KernelArgument.Of(rows), KernelArgument.Of(slots), KernelArgument.Of(scale),
            addend is null ? new KernelArgument(0L) : KernelArgument.Of(addend), KernelArgument.Of(result), checked((int)k), checked((int)hidden));
        return result;
    }
}
