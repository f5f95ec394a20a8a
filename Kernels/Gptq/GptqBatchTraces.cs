using MoeQuant.Kernels.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>
/// The proxy-loss traces of a batch whose column loop ran fused (so on CUDA), for every item at once: per item and
/// weight position [tr(W H Wᵀ), GPTQ's tr(ΔW H ΔWᵀ), round to nearest's]. GPTQ's comes from the loop's own residuals,
/// which sum to the trace with the H it factored (dead diagonals set to 1, λ added): subtracting λ·‖ΔW‖² and the dead
/// columns' ‖ΔW‖² leaves the undamped trace with no product with H. W and round to nearest need one (over H's lower block
/// triangle, <see cref="SymmetricQuadraticForms"/>), on bf16 tensor cores with fp32 accumulation: their traces do not
/// cancel, so the rounding of each operand (2⁻⁹, independent signs) averages out over millions of terms (within
/// 3.3 × 10⁻⁵ of the single path's fp32 in `bench gptq`), and W is bf16 already in a bf16 checkpoint. The operands and
/// ‖ΔW‖² per column are one pass each (<see cref="GptqBatchOperands"/>); items go a few at a time through a handful of
/// batched operations, since one small product per item and position left the GPU waiting on the host.
/// </summary>
internal static class GptqBatchTraces
{
    // Items per batched product: bounds the bf16 copies of H (C² each) and of the stacked weights (2·R·C each).
    private const long ChunkElements = 1L << 29;

    /// <summary>(items, positions, 3) float64 traces; zero for items with no calibration tokens.</summary>
    /// <param name="items">The batch.</param>
    /// <param name="positions">Every weight position, each with <see cref="GptqBatchPosition.DampedLoss"/>.</param>
    /// <param name="gptqSlot">Per item, its index among the GPTQ items, or −1 for round to nearest.</param>
    /// <param name="damping">(G) float32 λ of the GPTQ items.</param>
    /// <param name="dead">(items, C) bool dead columns.</param>
    public static Tensor Compute(IReadOnlyList<GptqBatchItem> items, GptqBatchPosition[] positions, int[] gptqSlot, Tensor damping, Tensor dead)
    {
        using var scope = NewDisposeScope();
        var device = dead.device;
        var columns = dead.shape[1];
        var maxRows = positions.Max(p => p.Weight.shape[1]);
        var chunk = (int)Math.Clamp(ChunkElements / ((columns * columns) + (2 * positions.Length * maxRows * columns)), 1, items.Count);
        var productTraces = new List<Tensor>();
        for (var start = 0; start < items.Count; start += chunk)
        {
            using var inner = NewDisposeScope();
            var count = Math.Min(chunk, items.Count - start);
            // 1) H in bf16 once per item, shared by its weight positions (gate and up), diagonal blocks halved for the
            //    lower-triangle products.
            var h = empty(count, columns, columns, ScalarType.BFloat16, device);
            for (var k = 0; k < count; k++)
            {
                h[k].copy_(items[start + k].Hessian.Matrix);
            }

            SymmetricQuadraticForms.HalveDiagonalBlocks(h);

            // 2) per position [W; RTN − W] of the chunk, in bf16, batched products with H's lower block triangle.
            var perPosition = positions.Select(p =>
            {
                var w = p.Weight.narrow(0, start, count);
                var rows = w.shape[1];
                var a = GptqBatchOperands.TraceOperand(w, p.RtnValues.narrow(0, start, count));
                // Row sums in fp32 first: a sum straight to fp64 would copy the whole product to fp64 first.
                var rowSums = SymmetricQuadraticForms.RowSums(a, h);
                return rowSums.to_type(ScalarType.Float64).view(count, 2, rows).sum(2);
            }).ToArray();
            productTraces.Add(stack(perPosition, 1).MoveToOuterDisposeScope());
        }

        var traces = cat(productTraces.ToArray(), 0); // (items, positions, 2): [W, RTN]
        var gptqTraces = positions.Select((p, t) => GptqTraces(p, gptqSlot, damping, dead, traces.select(1, t))).ToArray();
        var all = stack([traces.select(2, 0), stack(gptqTraces, 1), traces.select(2, 1)], 2);
        var calibrated = tensor(items.Select(i => i.Hessian.Tokens > 0).ToArray(), device: device);
        return all.mul_(calibrated.view(-1, 1, 1)).MoveToOuterDisposeScope();
    }

    // (items) GPTQ's undamped trace of one position (traces: its (items, 2) [W, RTN]): the loop's damped sum less
    // λ·‖ΔW‖² and the dead columns' ‖ΔW‖²; round to nearest's for items that did not run GPTQ.
    private static Tensor GptqTraces(GptqBatchPosition p, int[] gptqSlot, Tensor damping, Tensor dead, Tensor traces)
    {
        var items = gptqSlot.Length;
        var device = dead.device;
        var gptqItems = Enumerable.Range(0, items).Where(e => gptqSlot[e] >= 0).ToArray();
        var result = traces.select(1, 1).clone();
        if (gptqItems.Length == 0)
        {
            return result;
        }

        var index = tensor(gptqItems.Select(e => (long)e).ToArray(), device: device);
        var slots = tensor(gptqItems.Select(e => (long)gptqSlot[e]).ToArray(), device: device);
        // ‖ΔW‖² per column of every GPTQ item at once (their values are in item order: slot k is the k-th GPTQ item).
        var perColumn = GptqBatchOperands.ColumnSquareDifferences(p.Values!, p.Weight, index);
        var deadColumns = perColumn.mul(dead.index_select(0, index)).sum(1);
        var damped = p.DampedLoss!.index_select(0, slots).sum(1);
        var undamped = damped - (damping.index_select(0, slots).to_type(ScalarType.Float64) * perColumn.sum(1)) - deadColumns;
        return result.index_copy_(0, index, undamped);
    }
}
