using MoeQuant.Kernels.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>One unit of a batch: a Hessian and the weights that read its input.</summary>
/// <param name="Hessian">(columns, columns) float32; not modified.</param>
/// <param name="Weights">One weight, or tied weights sharing the Hessian (gate_proj and up_proj), as for <see cref="Gptq.QuantizeTied"/>.</param>
public sealed record GptqBatchItem(Hessian Hessian, IReadOnlyList<GptqWeight> Weights);

/// <summary>
/// The engine behind <see cref="Gptq.QuantizeBatch(IReadOnlyList{GptqBatchItem}, GptqOptions, GptqBatchSettings)"/>: the single path's steps (<see cref="Gptq.QuantizeTied"/>) on stacked
/// tensors, so that E items cost one factorization launch per chunk, one scale fit per weight position, one fused loop
/// per row count and one host synchronization, instead of E of each. Every step uses the single path's arithmetic
/// element for element (the tests compare bits on the CPU). On the CPU, and on CUDA for blocks wider than the fused
/// kernel's 128 columns, the column loop itself runs matrix by matrix (the single path's torch loop).
/// </summary>
internal static class GptqBatch
{
    /// <summary>
    /// Stacked Hessians per factorization launch: 2^31 float32 (8 GiB), so a batch of 32 at C = 7168 factors in one
    /// pass (the factorization works in place, with temporaries of a few panels); larger batches go in equal chunks.
    /// </summary>
    internal const long FactorChunkElements = 1L << 31;

    /// <summary>See <see cref="Gptq.QuantizeBatch(IReadOnlyList{GptqBatchItem}, GptqOptions, GptqBatchSettings)"/>.</summary>
    /// <param name="items">Units of one shape.</param>
    /// <param name="options">Settings.</param>
    /// <param name="settings">Workspace budget and stage announcements; null: the defaults.</param>
    /// <param name="factorChunkElements">Stacked Hessian elements per factorization launch (tests make it small).</param>
    public static IReadOnlyList<IReadOnlyList<QuantResult>> Quantize(
        IReadOnlyList<GptqBatchItem> items, GptqOptions options, GptqBatchSettings? settings = null, long factorChunkElements = FactorChunkElements)
    {
        var stage = settings?.Stages;
        stage?.Invoke(GptqStage.Validation);
        GptqValidation.CheckBatch(items, options);
        var columns = items[0].Hessian.Columns;
        var chunk = settings?.WorkspaceBytes is { } budget
            ? GptqBatchWorkspace.ItemsPerChunk(items.Count, [.. items[0].Weights.Select(w => w.Weight.shape[0])], columns, options.GroupSize, budget, factorChunkElements)
            : items.Count;
        if (chunk >= items.Count)
        {
            return QuantizeChunk(items, options, stage, factorChunkElements);
        }

        // Every item's calibration class first, so a Fail policy still throws before any device work.
        foreach (var item in items)
        {
            Gptq.Classify(GptqValidation.TiedName(item.Weights), item.Hessian.Tokens, options.MinTokens ?? columns, options.FewTokens);
        }

        var results = new List<IReadOnlyList<QuantResult>>(items.Count);
        try
        {
            for (var start = 0; start < items.Count; start += chunk)
            {
                results.AddRange(QuantizeChunk([.. items.Skip(start).Take(chunk)], options, stage, factorChunkElements));
            }

            return results;
        }
        catch
        {
            results.SelectMany(r => r).ToList().ForEach(r => r.Dispose());
            throw;
        }
    }

    // One chunk of a batch (the whole batch unless a workspace budget split it), after validation.
    private static List<IReadOnlyList<QuantResult>> QuantizeChunk(IReadOnlyList<GptqBatchItem> items, GptqOptions options, Action<GptqStage>? stage, long factorChunkElements)
    {
        if (!options.StaticGroups)
        {
            // Dynamic groups refit each group's scale inside the column loop, on that matrix's error-updated columns:
            // nothing can be fitted up front or fused, so these items take the single path one by one.
            stage?.Invoke(GptqStage.SinglePath);
            return Collect(items.Count, e => Gptq.QuantizeTied(items[e].Weights, items[e].Hessian, options));
        }

        var columns = items[0].Hessian.Columns;
        // 1) classification on the host: a Fail policy throws before any device work.
        stage?.Invoke(GptqStage.DeadColumns);
        var classes = items
            .Select(i => Gptq.Classify(GptqValidation.TiedName(i.Weights), i.Hessian.Tokens, options.MinTokens ?? columns, options.FewTokens))
            .ToArray();
        var gptq = Enumerable.Range(0, items.Count).Where(e => classes[e].UseGptq).ToArray();
        var device = items[0].Hessian.Device;
        var spec = options.ToQuantizerSpec();
        var groupSize = options.GroupSize < 0 ? columns : options.GroupSize;

        using var scope = NewDisposeScope();
        // 2) dead columns (zero diagonal) and act-order of the GPTQ items, then their factors, chunk by chunk.
        var dead = zeros(items.Count, columns, ScalarType.Bool, device);
        var gptqIndex = tensor(gptq.Select(e => (long)e).ToArray(), device: device);
        Tensor? order = null;
        GptqBatchFactors? factors = null;
        var block = options.BlockSize == 0 ? columns : Math.Min(options.BlockSize, columns);
        // The fused CUDA loop runs on R's columns (no triangular inverse); the torch loop, the single path's, on Û.
        var form = GptqLoop.CanFuse(device, block) ? GptqLoopFactor.CholeskyColumns : GptqLoopFactor.InverseRows;
        if (gptq.Length > 0)
        {
            var diagonals = stack(gptq.Select(e => items[e].Hessian.Matrix.diagonal()).ToArray());
            var deadGptq = diagonals.eq(0);
            dead.index_copy_(0, gptqIndex, deadGptq);
            order = options.Order == QuantizationOrder.Activation
                ? diagonals.masked_fill(deadGptq, 1).sort(1, descending: true, stable: true).Indices
                : null;
            factors = Factorize([.. gptq.Select(e => items[e].Hessian)], deadGptq, order, options.RelDamp, form, factorChunkElements, stage);
        }

        // 3) per weight position: stacked weights, static scales, round to nearest; then GPTQ's column loops.
        var positions = Enumerable.Range(0, items[0].Weights.Count).Select(t => GptqBatchPosition.Prepare(items, t, dead, groupSize, spec, stage)).ToArray();
        if (gptq.Length > 0)
        {
            GptqBatchPosition.RunLoops(positions, gptqIndex, order, factors!, groupSize, spec, block, stage);
        }

        // 4) proxy losses with each item's undamped H in natural order, left on the device.
        stage?.Invoke(GptqStage.ProxyLoss);
        var gptqSlot = new int[items.Count];
        Array.Fill(gptqSlot, -1);
        for (var k = 0; k < gptq.Length; k++)
        {
            gptqSlot[gptq[k]] = k;
        }

        Tensor traces;
        if (positions.All(p => p.DampedLoss is not null))
        {
            traces = GptqBatchTraces.Compute(items, positions, gptqSlot, factors!.Damping, dead);
        }
        else
        {
            traces = stack([.. items.SelectMany((item, e) => positions.Select(p => item.Hessian.Tokens == 0
                ? zeros(3, ScalarType.Float64, device)
                : ProxyLoss.Traces(item.Hessian.Matrix, p.Weight[e], [p.Of(e, gptqSlot[e]).Values, p.RtnValues[e]], fast: true)))]);
        }

        // 5) the one host synchronization: factor success, dead-column counts and traces of every item.
        stage?.Invoke(GptqStage.HostSync);
        var ok = ones(items.Count, ScalarType.Float64, device);
        if (factors is not null)
        {
            ok.index_copy_(0, gptqIndex, factors.Ok.to_type(ScalarType.Float64));
        }

        var summary = cat([ok.unsqueeze(1), dead.sum(1).to_type(ScalarType.Float64).unsqueeze(1), traces.view(items.Count, -1)], 1);
        var host = summary.cpu().data<double>().ToArray();
        var width = 2 + (3 * positions.Length);

        // 6) results; an item whose factorization failed at the first damping takes the single path, whose retries
        //    (and NonInvertible policy) then decide, exactly as for a lone call.
        stage?.Invoke(GptqStage.Outputs);
        // Every item's g_idx is the same: made once on the device, cloned per result (no host copy per item).
        var groupIndex = arange(columns, ScalarType.Int32, device).div_(groupSize, rounding_mode: RoundingMode.floor);
        return Collect(items.Count, e =>
        {
            var row = host.AsSpan(e * width, width).ToArray();
            if (row[0] == 0)
            {
                stage?.Invoke(GptqStage.SinglePath);
                var retried = Gptq.QuantizeTied(items[e].Weights, items[e].Hessian, options);
                stage?.Invoke(GptqStage.Outputs);
                return retried;
            }

            // Each item's conversions are freed as soon as its results are made (the results are detached copies).
            using var outputs = NewDisposeScope();

            var useGptq = gptqSlot[e] >= 0;
            var deadColumns = (int)row[1];
            var issues = classes[e].Issues | (deadColumns > 0 ? GptqIssues.DeadColumns : GptqIssues.None);
            var results = new List<QuantResult>(positions.Length);
            try
            {
                for (var t = 0; t < positions.Length; t++)
                {
                    var losses = items[e].Hessian.Tokens > 0 ? ProxyLoss.Ratios(row.AsSpan(2 + (3 * t), 3).ToArray()) : [null, null];
                    var (codes, values) = positions[t].Of(e, gptqSlot[e]);
                    results.Add(new QuantResult
                    {
                        Unit = items[e].Weights[t].Unit,
                        Codes = Keep(SignedCodes(codes, spec)),
                        Scales = Keep(positions[t].Scale[e].to_type(spec.ScaleDtype, copy: true)),
                        ZeroPoints = Keep((positions[t].Zero[e] - spec.ZeroOffset).to_type(ScalarType.Int8)),
                        GIdx = Keep(groupIndex.clone()),
                        Dequantized = Keep(values.to_type(spec.ScaleDtype, copy: true)),
                        Bits = spec.Bits,
                        GroupSize = groupSize,
                        Symmetric = spec.Symmetric,
                        ContiguousGroups = true,
                        Method = useGptq ? QuantMethod.Gptq : QuantMethod.RoundToNearest,
                        Tokens = items[e].Hessian.Tokens,
                        RelDamp = useGptq ? options.RelDamp : 0,
                        DeadColumns = deadColumns,
                        GptqLoss = losses[0],
                        RtnLoss = losses[1],
                        Issues = issues,
                    });
                }

                return results;
            }
            catch
            {
                results.ForEach(r => r.Dispose());
                throw;
            }
        });
    }

    // The result owns its tensors (fresh copies, never views of the batch): they leave every dispose scope.
    private static Tensor Keep(Tensor t) => t.contiguous().DetachFromDisposeScope();

    // Unsigned codes u to the signed q = u − ZeroOffset: below 8 bits u fits int8, so one conversion and an in-place
    // subtraction; at 8 bits u − 128 is formed in int16 first.
    private static Tensor SignedCodes(Tensor codes, QuantizerSpec spec) => spec.Bits < 8
        ? codes.to_type(ScalarType.Int8).sub_(spec.ZeroOffset)
        : (codes.to_type(ScalarType.Int16) - spec.ZeroOffset).to_type(ScalarType.Int8);

    // The loop factor (Û or V, by form) of every GPTQ item in processing order, chunk by chunk, and whether each
    // succeeded at the first damping.
    private static GptqBatchFactors Factorize(Hessian[] hessians, Tensor dead, Tensor? order, double relDamp, GptqLoopFactor form, long chunkElements, Action<GptqStage>? stage)
    {
        var columns = hessians[0].Columns;
        // Equal chunks (Hessians of 7168 at most 41 per launch: 64 go as 32 + 32, not 41 + 23).
        var chunk = GptqBatchWorkspace.FactorChunk(hessians.Length, columns, chunkElements);
        if (chunk == hessians.Length)
        {
            return FactorizeChunk(hessians, dead, order, relDamp, form, stage);
        }

        var device = hessians[0].Device;
        var all = new GptqBatchFactors(
            empty(hessians.Length, columns, columns, ScalarType.Float32, device),
            empty(hessians.Length, columns, ScalarType.Float32, device),
            empty(hessians.Length, ScalarType.Float32, device),
            empty(hessians.Length, ScalarType.Bool, device),
            form);
        for (var start = 0; start < hessians.Length; start += chunk)
        {
            using var inner = NewDisposeScope();
            var count = Math.Min(chunk, hessians.Length - start);
            var part = FactorizeChunk(hessians[start..(start + count)], dead.narrow(0, start, count), order?.narrow(0, start, count), relDamp, form, stage);
            stage?.Invoke(GptqStage.Permutation);
            all.Factor.narrow(0, start, count).copy_(part.Factor);
            all.LossWeight.narrow(0, start, count).copy_(part.LossWeight);
            all.Damping.narrow(0, start, count).copy_(part.Damping);
            all.Ok.narrow(0, start, count).copy_(part.Ok);
        }

        return all;
    }

    private static GptqBatchFactors FactorizeChunk(Hessian[] hessians, Tensor dead, Tensor? order, double relDamp, GptqLoopFactor form, Action<GptqStage>? stage)
    {
        stage?.Invoke(GptqStage.Permutation);
        using var scope = NewDisposeScope();
        var (count, columns) = (hessians.Length, (long)hessians[0].Columns);
        // As the single path: dead columns get diagonal 1 (their H row is zero), then H is permuted to processing order.
        var h = stack(hessians.Select(x => x.Matrix).ToArray());
        h.diagonal(0, 1, 2).masked_fill_(dead, 1);
        if (order is not null)
        {
            var rows = h.gather(1, order.unsqueeze(2).expand(count, columns, columns));
            h.Dispose();
            h = rows.gather(2, order.unsqueeze(1).expand(count, columns, columns));
            rows.Dispose();
        }

        var (factor, lossWeight, damping, ok) = HessianFactorization.FactorizeBatch(h, relDamp, form, stage);
        return new GptqBatchFactors(factor.MoveToOuterDisposeScope(), lossWeight.MoveToOuterDisposeScope(), damping.MoveToOuterDisposeScope(), ok.MoveToOuterDisposeScope(), form);
    }

    // Runs quantize for every item, disposing the results already made when a later item throws.
    private static List<IReadOnlyList<QuantResult>> Collect(int count, Func<int, IReadOnlyList<QuantResult>> quantize)
    {
        var results = new List<IReadOnlyList<QuantResult>>(count);
        try
        {
            for (var e = 0; e < count; e++)
            {
                results.Add(quantize(e));
            }

            return results;
        }
        catch
        {
            results.SelectMany(r => r).ToList().ForEach(r => r.Dispose());
            throw;
        }
    }
}
