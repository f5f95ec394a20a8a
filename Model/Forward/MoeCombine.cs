using MoeQuant.Kernels.Fused;
using static TorchSharp.torch;

namespace MoeQuant.Model.Forward;

/// <summary>
/// The routed experts' outputs back to tokens: each token's k outputs weighted in f32, summed in f32 and rounded once,
/// as transformers' grouped experts do.
/// </summary>
internal static class MoeCombine
{
    /// <summary>Tokens whose weighted sum is formed in f32 at a time: bounds that temporary to ~1 GB at DeepSeek-V3's width.</summary>
    private const long ChunkTokens = 4096;

    /// <summary>Whether <see cref="Fused"/> takes these tensors (bf16 on CUDA).</summary>
    public static bool Fuses(Tensor outputs, Tensor x) => FusedMoeCombine.Applies(outputs, null) && x.dtype == outputs.dtype;

    /// <param name="outputs">[tokens·k, hidden], sorted: row r holds slot order[r].</param>
    /// <param name="order">[tokens·k] int64.</param>
    /// <param name="weights">[tokens, k] f32.</param>
    /// <returns>[tokens, hidden] of the outputs' dtype.</returns>
    public static Tensor Reference(Tensor outputs, Tensor order, Tensor weights)
    {
        using var scope = NewDisposeScope();
        var (tokens, k) = (weights.shape[0], weights.shape[1]);
        var hidden = outputs.shape[1];
        var bySlot = empty_like(outputs).index_copy_(0, order, outputs).view(tokens, k, hidden);
        var combined = empty([tokens, hidden], outputs.dtype, outputs.device);
        for (var start = 0L; start < tokens; start += ChunkTokens)
        {
            using var chunkScope = NewDisposeScope();
            var length = Math.Min(ChunkTokens, tokens - start);
            // compute dtype × f32 weights promotes to f32 in one pass, the same products as transformers' bf16 * f32.
            var weighted = bySlot.narrow(0, start, length).mul(weights.narrow(0, start, length).unsqueeze(-1));
            combined.narrow(0, start, length).copy_(weighted.sum(1));
        }

        return combined.MoveToOuterDisposeScope();
    }

    /// <summary>The same sum in one kernel that reads each sorted row where it lies (no unsorted copy, no f32
    /// temporaries), then adds <paramref name="shared"/> in the compute dtype as a separate add would.</summary>
    /// <param name="outputs">As <see cref="Reference"/>'s, bf16 on CUDA (<see cref="Fuses"/>).</param>
    /// <param name="order">As <see cref="Reference"/>'s.</param>
    /// <param name="weights">As <see cref="Reference"/>'s.</param>
    /// <param name="shared">[tokens, hidden], the shared experts' output, or null.</param>
    public static Tensor Fused(Tensor outputs, Tensor order, Tensor weights, Tensor? shared)
    {
        using var scope = NewDisposeScope();
        var slotRow = empty_like(order).index_copy_(0, order, arange(order.shape[0], ScalarType.Int64, order.device));
        return FusedMoeCombine.Apply(outputs, slotRow, weights, shared?.contiguous()).MoveToOuterDisposeScope();
    }
}
