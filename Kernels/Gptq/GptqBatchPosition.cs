using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>
/// One weight position of a batch (position 0: every item's first weight, e.g. all gate_proj; position 1: all up_proj):
/// the stacked weights, their static scales, round to nearest, and the GPTQ items' codes once the loop has run. Tensors
/// live in the caller's dispose scope.
/// </summary>
internal sealed class GptqBatchPosition
{
    // Weight elements per scale fit: bounds the MSE search's (candidates × values) temporaries on a GPU.
    private const long FitChunkElements = 1L << 27;

    private GptqBatchPosition(Tensor weight, Tensor scale, Tensor zero, Tensor rtnCodes, Tensor rtnValues)
    {
        Weight = weight;
        Scale = scale;
        Zero = zero;
        RtnCodes = rtnCodes;
        RtnValues = rtnValues;
    }

    /// <summary>(E, rows, columns) float32: the weights, dead columns of GPTQ items zeroed.</summary>
    public Tensor Weight { get; }

    /// <summary>(E, rows, groups) float32 static scales.</summary>
    public Tensor Scale { get; }

    /// <summary>(E, rows, groups) float32 unsigned zero points.</summary>
    public Tensor Zero { get; }

    /// <summary>(E, rows, columns) uint8 unsigned round-to-nearest codes.</summary>
    public Tensor RtnCodes { get; }

    /// <summary>(E, rows, columns) float32 round-to-nearest values, rounded to the scale dtype.</summary>
    public Tensor RtnValues { get; }

    /// <summary>(G, rows, columns) uint8 unsigned GPTQ codes of the GPTQ items in natural order, once the loop ran.</summary>
    public Tensor? Codes { get; private set; }

    /// <summary>(G, rows, columns) float32 values of <see cref="Codes"/>.</summary>
    public Tensor? Values { get; private set; }

    /// <summary>
    /// (G, rows) float64: per row of each GPTQ item, the fused loop's Σ c_j·d_j², i.e. tr(ΔW·(H + λI)·ΔWᵀ) with
    /// the damped, dead-column-fixed H; null when the loop ran unfused.
    /// </summary>
    public Tensor? DampedLoss { get; private set; }

    /// <summary>Codes and values of item <paramref name="e"/>: GPTQ's when <paramref name="slot"/> ≥ 0 (its index among the GPTQ items), else round to nearest.</summary>
    public (Tensor Codes, Tensor Values) Of(int e, int slot) => slot >= 0 ? (Codes![slot], Values![slot]) : (RtnCodes[e], RtnValues[e]);

    /// <summary>Stacks position <paramref name="t"/> of every item and fits its static scales (single path: ColumnGroups.Static).</summary>
    public static GptqBatchPosition Prepare(IReadOnlyList<GptqBatchItem> items, int t, Tensor dead, int groupSize, QuantizerSpec spec, Action<GptqStage>? stage = null)
    {
        stage?.Invoke(GptqStage.WeightStack);
        var weight = Stack(items, t, dead);
        var (count, rows, columns) = ((int)weight.shape[0], weight.shape[1], weight.shape[2]);
        var groups = columns / groupSize;
        stage?.Invoke(GptqStage.ScaleSearch);
        var (scale, zero) = Fit(weight.view(count * rows, groups, groupSize), spec);
        var s = scale.view(count, rows, groups, 1);
        var z = zero.view(count, rows, groups, 1);
        stage?.Invoke(GptqStage.RoundToNearest);
        if (weight.device_type == DeviceType.CUDA)
        {
            // One pass over the weights, the same arithmetic element for element (Cuda/GroupRoundToNearest.cu).
            var (fusedCodes, fusedValues) = FusedGroupQuantizer.RoundToNearest(
                weight.view(count * rows, columns), scale.contiguous().view(count * rows, groups), zero.contiguous().view(count * rows, groups), spec);
            return new GptqBatchPosition(weight, scale.view(count, rows, groups), zero.view(count, rows, groups), fusedCodes.view(count, rows, columns), fusedValues.view(count, rows, columns));
        }

        // Broadcasting one scale over its group computes, element for element, what the single path's expanded scales do.
        var rtnCodes = GroupQuantizer.Quantize(weight.view(count, rows, groups, groupSize), s, z, spec);
        var rtnValues = GroupQuantizer.Dequantize(rtnCodes, s, z, spec);
        // Codes are small integers: uint8 holds them exactly in a quarter of the memory.
        var codes = rtnCodes.to_type(ScalarType.Byte).view(count, rows, columns);
        rtnCodes.Dispose();
        return new GptqBatchPosition(weight, scale.view(count, rows, groups), zero.view(count, rows, groups), codes, rtnValues.view(count, rows, columns));
    }

    /// <summary>
    /// Runs GPTQ's column loop for the GPTQ items of every position. On CUDA with blocks of at most 128 columns,
    /// positions of equal row count share one fused launch (matrix t·G + k uses factor k); otherwise each matrix runs
    /// the single path's loop on its own.
    /// </summary>
    /// <param name="positions">Every weight position.</param>
    /// <param name="gptqIndex">(G) int64: the items that run GPTQ.</param>
    /// <param name="order">(G, columns) int64 processing order, or null for natural order.</param>
    /// <param name="factors">The GPTQ items' factors in processing order.</param>
    /// <param name="groupSize">Columns per group.</param>
    /// <param name="spec">The quantizer.</param>
    /// <param name="block">Columns per lazy-update block.</param>
    /// <param name="stage">Stage announcements (<see cref="GptqBatchSettings.Stages"/>); null: none.</param>
    public static void RunLoops(GptqBatchPosition[] positions, Tensor gptqIndex, Tensor? order, GptqBatchFactors factors, int groupSize, QuantizerSpec spec, int block, Action<GptqStage>? stage = null)
    {
        stage?.Invoke(GptqStage.LoopSetup);
        var (count, columns) = (gptqIndex.shape[0], factors.Factor.shape[1]);
        var device = factors.Factor.device;
        var scales = positions.Select(p => p.Scale.index_select(0, gptqIndex).transpose(1, 2).contiguous()).ToArray();
        var zeros = positions.Select(p => p.Zero.index_select(0, gptqIndex).transpose(1, 2).contiguous()).ToArray();
        var processed = new Tensor[positions.Length];
        if (GptqLoop.CanFuse(device, block))
        {
            var groupAt = (order ?? arange(columns, ScalarType.Int64, device).unsqueeze(0).expand(count, columns))
                .div(groupSize, rounding_mode: RoundingMode.floor).to_type(ScalarType.Int32);
            foreach (var members in Enumerable.Range(0, positions.Length).GroupBy(t => positions[t].Weight.shape[1]).Select(g => g.ToArray()))
            {
                stage?.Invoke(GptqStage.LoopSetup);
                using var launch = NewDisposeScope();
                // The positions of one shape (gate and up) as one batch of E·members matrices, each Wᵀ copied straight
                // into its place.
                // On R's columns the loop feeds errors forward against the weights as they were before it: a second copy.
                var joined = empty(members.Length * count, columns, positions[members[0]].Weight.shape[1], ScalarType.Float32, device);
                var original = factors.Form == GptqLoopFactor.CholeskyColumns ? empty_like(joined) : null;
                for (var m = 0; m < members.Length; m++)
                {
                    WriteWorking(positions[members[m]].Weight, gptqIndex, order, joined.narrow(0, m * count, count), original?.narrow(0, m * count, count));
                }

                var (codes, loss) = GptqLoop.RunFused(
                    joined,
                    factors.Factor,
                    Join(members, scales),
                    Join(members, zeros),
                    groupAt.repeat(members.Length, 1),
                    spec,
                    block,
                    factors.LossWeight,
                    stage,
                    original);
                for (var m = 0; m < members.Length; m++)
                {
                    processed[members[m]] = codes.narrow(0, m * count, count).MoveToOuterDisposeScope();
                    positions[members[m]].DampedLoss = loss!.narrow(0, m * count, count).MoveToOuterDisposeScope();
                }
            }
        }
        else
        {
            var orderOnHost = order is null ? null : Rows(order.cpu());
            stage?.Invoke(GptqStage.ColumnLoop);
            for (var t = 0; t < positions.Length; t++)
            {
                var p = positions[t];
                using var working = empty(count, columns, p.Weight.shape[1], ScalarType.Float32, device);
                WriteWorking(p.Weight, gptqIndex, order, working);
                processed[t] = stack(Enumerable.Range(0, (int)count).Select(k =>
                {
                    using var scope = NewDisposeScope();
                    // Fresh copies: the single path hands the loop tensors of its own, and so does this.
                    var groups = ColumnGroups.FromStatic(scales[t][k].clone(), zeros[t][k].clone(), groupSize, orderOnHost?[k], spec);
                    return GptqLoop.Run(working[k].clone(), factors.Factor[k].clone(), groups, spec, block).to_type(ScalarType.Byte).MoveToOuterDisposeScope();
                }).ToArray());
            }
        }

        // Back to natural column order, then the values an inference kernel reconstructs.
        stage?.Invoke(GptqStage.Dequantize);
        var inverse = order?.argsort(1);
        for (var t = 0; t < positions.Length; t++)
        {
            var p = positions[t];
            var rows = p.Weight.shape[1];
            using var step = NewDisposeScope();
            var natural = inverse is null ? processed[t] : processed[t].gather(1, inverse.unsqueeze(2).expand(count, columns, rows));
            var groups = columns / groupSize;
            var (scale, zero) = (p.Scale.index_select(0, gptqIndex), p.Zero.index_select(0, gptqIndex));
            if (device.type == DeviceType.CUDA)
            {
                // Transposed back and dequantized in one pass.
                var (codes, values) = FusedGroupQuantizer.DequantizeTransposed(natural.contiguous(), scale.view(count * rows, groups), zero.view(count * rows, groups), spec);
                (p.Codes, p.Values) = (codes.MoveToOuterDisposeScope(), values.MoveToOuterDisposeScope());
            }
            else
            {
                p.Codes = natural.transpose(1, 2).contiguous().MoveToOuterDisposeScope();
                p.Values = GroupQuantizer.Dequantize(p.Codes.to_type(ScalarType.Float32).view(count, rows, groups, groupSize), scale.unsqueeze(3), zero.unsqueeze(3), spec)
                    .view(count, rows, columns).MoveToOuterDisposeScope();
            }

            processed[t].Dispose();
        }
    }

    // (E, rows, columns) fp32: position t of every item, dead columns zeroed. On CUDA one pass per item
    // (GptqBatchOperands.WidenMasked); elsewhere conversion, stack and mask, the single path's ops.
    private static Tensor Stack(IReadOnlyList<GptqBatchItem> items, int t, Tensor dead)
    {
        var first = items[0].Weights[t].Weight;
        if (first.device_type == DeviceType.CUDA && items.All(i => i.Weights[t].Weight.dtype is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16))
        {
            var stacked = empty(items.Count, first.shape[0], first.shape[1], ScalarType.Float32, first.device);
            for (var e = 0; e < items.Count; e++)
            {
                var original = items[e].Weights[t].Weight;
                var source = original.contiguous();
                using var target = stacked[e];
                using var deadColumns = dead[e];
                GptqBatchOperands.WidenMasked(source, target, deadColumns);
                DisposeUnlessSame(source, original);
            }

            return stacked;
        }

        var converted = items.Select(i => i.Weights[t].Weight.to_type(ScalarType.Float32)).ToArray();
        var weight = stack(converted);
        // The fp32 copies of bf16 weights are stacked: free them now rather than at the end of the call.
        for (var e = 0; e < converted.Length; e++)
        {
            DisposeUnlessSame(converted[e], items[e].Weights[t].Weight);
        }

        return weight.masked_fill_(dead.unsqueeze(1), 0);
    }

    // Static scales of (rows, groups, groupSize) values, fitted in row chunks (rows are independent, so chunks change nothing).
    private static (Tensor Scale, Tensor Zero) Fit(Tensor values, QuantizerSpec spec)
    {
        var rows = values.shape[0];
        var chunk = Math.Max(1, FitChunkElements / (values.shape[1] * values.shape[2]));
        if (rows <= chunk)
        {
            return GroupQuantizer.Fit(values, spec);
        }

        var parts = new List<(Tensor Scale, Tensor Zero)>();
        for (var start = 0L; start < rows; start += chunk)
        {
            parts.Add(GroupQuantizer.Fit(values.narrow(0, start, Math.Min(chunk, rows - start)), spec));
        }

        return (cat(parts.Select(p => p.Scale).ToArray(), 0), cat(parts.Select(p => p.Zero).ToArray(), 0));
    }

    // Frees a temporary unless the operation that consumed it handed the same object back.
    private static void DisposeUnlessSame(Tensor temporary, Tensor kept)
    {
        if (!ReferenceEquals(temporary, kept))
        {
            temporary.Dispose();
        }
    }

    // The loop works on Wᵀ in processing order, each GPTQ column a contiguous row: the GPTQ items' (R, C) weights
    // written transposed into target (G, C, R), and into second when given. When every item runs GPTQ their selection is
    // the whole batch, and in natural order the transpose is the only copy (on CUDA a tiled kernel, coalesced both ways).
    private static void WriteWorking(Tensor weight, Tensor gptqIndex, Tensor? order, Tensor target, Tensor? second = null)
    {
        using var scope = NewDisposeScope();
        var (count, rows, columns) = (gptqIndex.shape[0], weight.shape[1], weight.shape[2]);
        var selected = count == weight.shape[0] ? weight : weight.index_select(0, gptqIndex);
        var permuted = order is null ? selected : selected.gather(2, order.unsqueeze(1).expand(count, rows, columns));
        if (permuted.device_type == DeviceType.CUDA)
        {
            GptqBatchOperands.Transpose(permuted.contiguous(), target, second);
            return;
        }

        target.copy_(permuted.transpose(1, 2));
        second?.copy_(target);
    }

    // The members' tensors stacked along the matrix dimension (no copy for one member).
    private static Tensor Join(int[] members, Tensor[] tensors) =>
        members.Length == 1 ? tensors[members[0]] : cat(members.Select(t => tensors[t]).ToArray(), 0);

    private static long[][] Rows(Tensor order)
    {
        var (count, columns) = ((int)order.shape[0], (int)order.shape[1]);
        var flat = order.data<long>().ToArray();
        return [.. Enumerable.Range(0, count).Select(k => flat.AsSpan(k * columns, columns).ToArray())];
    }
}
