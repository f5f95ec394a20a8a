using MoeQuant.Kernels.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>One weight to quantize and the unit it belongs to.</summary>
/// <param name="Unit">The unit's name, used in results and errors (e.g. <c>model.layers.3.mlp.experts.17.gate_proj</c>).</param>
/// <param name="Weight">(rows, columns) bfloat16, float16 or float32, on the Hessian's device; not modified.</param>
public sealed record GptqWeight(string Unit, Tensor Weight);

/// <summary>
/// GPTQ (Frantar et al. 2022) as MoE-Quant runs it, written with tensor operations so the same code runs on CPU and
/// CUDA (on the tensors' device). Synchronous; call it on the thread that owns the device.
/// </summary>
public static class Gptq
{
    /// <summary>Quantizes one linear weight.</summary>
    /// <param name="unit">The unit's name, used in the result and in errors.</param>
    /// <param name="weight">(rows, columns) bfloat16, float16 or float32 on the Hessian's device; not modified.</param>
    /// <param name="hessian">The Hessian of the layer's input, (columns, columns) float32; not modified.</param>
    /// <param name="options">Settings.</param>
    /// <returns>The result; the caller owns and disposes it.</returns>
    /// <exception cref="GptqInputException">Shapes, options or values (NaN/Inf) are unusable.</exception>
    /// <exception cref="HessianNotInvertibleException">Damping retries failed under <see cref="NonInvertiblePolicy.Fail"/>.</exception>
    /// <exception cref="InsufficientCalibrationException">Too few tokens under <see cref="FewTokensPolicy.Fail"/>.</exception>
    public static QuantResult Quantize(string unit, Tensor weight, Hessian hessian, GptqOptions options) =>
        QuantizeTied([new GptqWeight(unit, weight)], hessian, options)[0];

    /// <summary>
    /// Quantizes several weights that read the same input (<c>tie_gptq_handles</c>: gate_proj and up_proj of an expert,
    /// or q_a_proj and kv_a_proj_with_mqa) with one Hessian, one act-order permutation and one factorization. Each
    /// weight is permuted with that permutation, so the shared factor is always in its column order (MoE-Quant's tie
    /// re-sorted an already sorted diagonal and ran up_proj unpermuted against gate_proj's permuted factor).
    /// </summary>
    /// <param name="weights">Weights with the Hessian's column count; row counts may differ.</param>
    /// <param name="hessian">The shared Hessian, (columns, columns) float32; not modified.</param>
    /// <param name="options">Settings.</param>
    /// <returns>One result per weight, in order; the caller owns and disposes them.</returns>
    /// <exception cref="GptqInputException">Shapes, options or values (NaN/Inf) are unusable.</exception>
    /// <exception cref="HessianNotInvertibleException">Damping retries failed under <see cref="NonInvertiblePolicy.Fail"/>.</exception>
    /// <exception cref="InsufficientCalibrationException">Too few tokens under <see cref="FewTokensPolicy.Fail"/>.</exception>
    public static IReadOnlyList<QuantResult> QuantizeTied(IReadOnlyList<GptqWeight> weights, Hessian hessian, GptqOptions options)
    {
        GptqValidation.Check(weights, hessian, options);
        using var scope = NewDisposeScope();
        var tied = string.Join("+", weights.Select(w => w.Unit));
        var columns = hessian.Columns;

        // 1) can the calibration carry GPTQ? No tokens: H says nothing, round to nearest. Few: the policy decides.
        var (useGptq, issues) = Classify(tied, hessian.Tokens, options.MinTokens ?? columns, options.FewTokens);

        // 2) dead columns (zero diagonal): their H row is zero too (H is PSD), so diag := 1 decouples them and their
        //    weights are set to 0, as MoE-Quant and the paper do.
        var h = hessian.Matrix.clone();
        var dead = h.diagonal().eq(0);
        var deadColumns = useGptq ? dead.nonzero().flatten() : empty(0, ScalarType.Int64, h.device);
        if (deadColumns.numel() > 0)
        {
            h.diagonal().masked_fill_(dead, 1);
            issues |= GptqIssues.DeadColumns;
        }

        // 3) processing order: act-order sorts by descending diagonal (stable, so equal diagonals keep their order).
        Tensor? order = options.Order == QuantizationOrder.Activation && useGptq
            ? sort(h.diagonal(), descending: true, stable: true).indices
            : null;
        var orderOnHost = order?.cpu().data<long>().ToArray();

        // 4) one factorization for every tied weight, of H in processing order.
        Tensor? factor = null;
        var relDamp = 0.0;
        if (useGptq)
        {
            var permuted = order is null ? h : h.index_select(0, order).index_select(1, order);
            (factor, relDamp) = HessianFactorization.Factorize(permuted, options.RelDamp, options.DampingRetries);
            issues |= relDamp > options.RelDamp ? GptqIssues.DampingRaised : GptqIssues.None;
            if (factor is null)
            {
                if (options.NonInvertible == NonInvertiblePolicy.Fail)
                {
                    throw new HessianNotInvertibleException(tied, relDamp);
                }

                (useGptq, issues, relDamp) = (false, issues | GptqIssues.NonInvertible, 0);
            }
        }

        var context = new Context(options, options.ToQuantizerSpec(), hessian, deadColumns, order, orderOnHost, factor, relDamp, issues);
        var results = new List<QuantResult>(weights.Count);
        try
        {
            results.AddRange(weights.Select(w => QuantizeOne(w, context, useGptq)));
            return results;
        }
        catch
        {
            // Results own detached tensors: free those already made when a later weight fails (e.g. out of memory).
            results.ForEach(r => r.Dispose());
            throw;
        }
    }

    internal static (bool UseGptq, GptqIssues Issues) Classify(string unit, long tokens, long minTokens, FewTokensPolicy policy)
    {
        if (tokens >= minTokens && tokens > 0)
        {
            return (true, GptqIssues.None);
        }

        if (policy == FewTokensPolicy.Fail)
        {
            throw new InsufficientCalibrationException(unit, tokens, Math.Max(minTokens, 1));
        }

        return tokens == 0
            ? (false, GptqIssues.ZeroSamples)
            : (policy == FewTokensPolicy.Gptq, GptqIssues.FewSamples);
    }

    /// <summary>
    /// Quantizes many units of one shape together (issue #7: many experts per launch). Each item is one Hessian with the
    /// weights that read its input: one weight, or tied weights (gate_proj and up_proj) as in <see cref="QuantizeTied"/>.
    /// Every item must have the same weight shapes (callers group by shape). The results equal those of
    /// <see cref="QuantizeTied"/> on each item: bit for bit on the CPU; on CUDA up to what the batched kernels change
    /// (cuBLAS batched products in the lazy update and in the factorization, 3xTF32 products in the proxy losses,
    /// batched reductions: last-bit differences that move a few codes by one step). See <c>Kernels/Gptq/README.md</c>.
    /// </summary>
    /// <param name="items">Units of one shape, on one device; not modified.</param>
    /// <param name="options">Settings shared by every item.</param>
    /// <returns>Per item, one result per weight in order; the caller owns and disposes them.</returns>
    /// <exception cref="GptqInputException">Shapes, options or values (NaN/Inf) of an item are unusable, or items differ in shape.</exception>
    /// <exception cref="HessianNotInvertibleException">An item's damping retries failed under <see cref="NonInvertiblePolicy.Fail"/> (no results are returned).</exception>
    /// <exception cref="InsufficientCalibrationException">An item has too few tokens under <see cref="FewTokensPolicy.Fail"/> (thrown before any work).</exception>
    public static IReadOnlyList<IReadOnlyList<QuantResult>> QuantizeBatch(IReadOnlyList<GptqBatchItem> items, GptqOptions options) =>
        GptqBatch.Quantize(items, options);

    /// <summary>
    /// <see cref="QuantizeBatch(IReadOnlyList{GptqBatchItem}, GptqOptions)"/> with a workspace budget (the batch runs in
    /// equal chunks whose estimated workspace fits, each chunk's results exactly those of a call with that chunk) and
    /// stage announcements for timers and profilers. With <see cref="GptqBatchSettings.Default"/> it is that call.
    /// </summary>
    /// <param name="items">Units of one shape, on one device; not modified.</param>
    /// <param name="options">Settings shared by every item.</param>
    /// <param name="settings">How to run the batch.</param>
    /// <returns>Per item, one result per weight in order; the caller owns and disposes them.</returns>
    /// <exception cref="GptqInputException">Shapes, options or values (NaN/Inf) of an item are unusable, or items differ in shape.</exception>
    /// <exception cref="HessianNotInvertibleException">An item's damping retries failed under <see cref="NonInvertiblePolicy.Fail"/> (no results are returned).</exception>
    /// <exception cref="InsufficientCalibrationException">An item has too few tokens under <see cref="FewTokensPolicy.Fail"/> (thrown before any work).</exception>
    public static IReadOnlyList<IReadOnlyList<QuantResult>> QuantizeBatch(IReadOnlyList<GptqBatchItem> items, GptqOptions options, GptqBatchSettings settings) =>
        GptqBatch.Quantize(items, options, settings);

    private static QuantResult QuantizeOne(GptqWeight target, Context c, bool useGptq)
    {
        using var scope = NewDisposeScope();
        var spec = c.Spec;
        var w = target.Weight.to_type(ScalarType.Float32, copy: true);
        var (rows, columns) = ((int)w.shape[0], (int)w.shape[1]);
        var groupSize = c.Options.GroupSize < 0 ? columns : c.Options.GroupSize;
        if (c.DeadColumns.numel() > 0)
        {
            w.index_fill_(1, c.DeadColumns, 0);
        }

        // 1) static scales on the contiguous groups of the original weight: used by the static-groups loop and by
        //    round-to-nearest (the fallback, and the baseline of every report).
        var natural = ColumnGroups.Static(w, groupSize, spec);
        var naturalGroupOf = natural.GroupOfColumn(order: null, w.device);
        var rtnCodes = natural.RoundToNearest(w, naturalGroupOf);
        var rtnValues = natural.Dequantize(rtnCodes, naturalGroupOf);

        var (groups, groupOf, codes, values) = (natural, naturalGroupOf, rtnCodes, rtnValues);
        if (useGptq)
        {
            // 2) the loop runs on Wᵀ in processing order, so each GPTQ column is a contiguous row.
            groups = c.Options.StaticGroups
                ? natural.InOrder(c.OrderOnHost)
                : ColumnGroups.Dynamic(rows, columns, groupSize, spec, w.device);
            var working = (c.Order is null ? w.t() : w.t().index_select(0, c.Order)).contiguous();
            var block = groups.AlignBlock(c.Options.BlockSize, columns);
            var processed = GptqLoop.Run(working, c.Factor!, groups, spec, block);
            // 3) back to natural column order.
            codes = (c.Order is null ? processed : processed.index_select(0, argsort(c.Order))).t();
            groupOf = groups.GroupOfColumn(c.OrderOnHost, w.device);
            values = groups.Dequantize(codes, groupOf);
        }

        // 4) losses with the caller's undamped H in natural order (MoE-Quant measured act-order runs against its
        //    permuted H while W stayed in natural order).
        var losses = c.Hessian.Tokens > 0 ? ProxyLoss.Relative(c.Hessian.Matrix, w, [values, rtnValues]) : [null, null];
        return new QuantResult
        {
            Unit = target.Unit,
            Codes = Keep((codes - spec.ZeroOffset).to_type(ScalarType.Int8)),
            Scales = Keep(groups.Scale.t().to_type(spec.ScaleDtype, copy: true)),
            ZeroPoints = Keep((groups.Zero.t() - spec.ZeroOffset).to_type(ScalarType.Int8)),
            GIdx = Keep(groupOf.to_type(ScalarType.Int32)),
            Dequantized = Keep(values.to_type(spec.ScaleDtype, copy: true)),
            Bits = spec.Bits,
            GroupSize = groupSize,
            Symmetric = spec.Symmetric,
            ContiguousGroups = groups.Contiguous || c.Order is null,
            Method = useGptq ? QuantMethod.Gptq : QuantMethod.RoundToNearest,
            Tokens = c.Hessian.Tokens,
            RelDamp = useGptq ? c.RelDamp : 0,
            DeadColumns = (int)c.DeadColumns.numel(),
            GptqLoss = losses[0],
            RtnLoss = losses[1],
            Issues = c.Issues,
        };
    }

    // The result owns its tensors: they leave every dispose scope and are freed by QuantResult.Dispose.
    private static Tensor Keep(Tensor t) => t.contiguous().DetachFromDisposeScope();

    private sealed record Context(
        GptqOptions Options,
        QuantizerSpec Spec,
        Hessian Hessian,
        Tensor DeadColumns,
        Tensor? Order,
        long[]? OrderOnHost,
        Tensor? Factor,
        double RelDamp,
        GptqIssues Issues);
}
