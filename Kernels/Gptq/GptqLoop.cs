using MoeQuant.Kernels.Cuda;
using MoeQuant.Kernels.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace MoeQuant.Kernels.Gptq;

/// <summary>The block-wise GPTQ column loop with lazy batched updates (MoE-Quant <c>gptq_loop_graph</c>, direct path).</summary>
internal static class GptqLoop
{
    /// <summary>Quantizes every column in processing order, feeding each column's error forward.</summary>
    /// <param name="working">(columns, rows) float32: the weight transposed, in processing order. Overwritten.</param>
    /// <param name="factor">(columns, columns) float32 Û from <see cref="HessianFactorization"/>, processing order.</param>
    /// <param name="groups">Scales per processing position.</param>
    /// <param name="spec">The quantizer.</param>
    /// <param name="blockSize">Columns per lazy-update block, already aligned to the groups.</param>
    /// <param name="original">
    /// (columns, rows) float32: the weights before the loop, when <paramref name="factor"/> is V = −R·diag(R)⁻¹ by
    /// columns (H = R·Rᵀ) rather than Û: each error is then fed forward against the original value (Cuda/GptqBlock.cu
    /// derives it). Null: Û, errors against the updated values.
    /// </param>
    /// <returns>(columns, rows) float32 unsigned codes in processing order.</returns>
    public static Tensor Run(Tensor working, Tensor factor, ColumnGroups groups, QuantizerSpec spec, int blockSize, Tensor? original = null)
    {
        // On a GPU, static groups go through the fused kernel (same arithmetic, one launch per block); dynamic groups
        // refit scales inside the loop, which the kernel does not do, so they stay on this loop.
        if (working.device_type == DeviceType.CUDA && groups.Contiguous && blockSize <= FusedBlockLimit && original is null)
        {
            return Fused(working, factor, groups, spec, blockSize);
        }

        var columns = (int)working.shape[0];
        var codes = zeros_like(working);
        for (var i1 = 0; i1 < columns; i1 += blockSize)
        {
            using var block = NewDisposeScope();
            var i2 = Math.Min(i1 + blockSize, columns);
            var errors = empty(i2 - i1, working.shape[1], ScalarType.Float32, working.device);
            for (var j = i1; j < i2; j++)
            {
                // 1) a dynamic group is fitted when its first column comes up, on fully updated columns.
                groups.FitIfGroupStarts(j, working);
                var (scale, zero) = groups.At(j);
                var w = working[j];
                // 2) quantize; the error is taken against the value rounded to the scale dtype, the value inference will
                //    use, so storage rounding is fed back too (MoE-Quant: E = dequant − w).
                var q = GroupQuantizer.Quantize(w, scale, zero, spec);
                codes[j].copy_(q);
                var error = errors[j - i1];
                error.copy_(GroupQuantizer.Dequantize(q, scale, zero, spec)).sub_(original is null ? w : original[j]);
                // 3) rank-1 update of the rest of the block: W[k] += Û[j,k]·E_j, the paper's δ = −(w−q)/[H⁻¹]_jj·H⁻¹_j,k.
                var rest = i2 - j - 1;
                if (rest > 0)
                {
                    working.narrow(0, j + 1, rest).addr_(factor[j].narrow(0, j + 1, rest), error);
                }
            }

            // 4) one GEMM carries the block's errors to every later column: W[i2:] += Û[i1:i2, i2:]ᵀ · E.
            var tail = columns - i2;
            if (tail > 0)
            {
                working.narrow(0, i2, tail).addmm_(factor.narrow(0, i1, i2 - i1).narrow(1, i2, tail).t(), errors);
            }
        }

        return codes;
    }

    private const int FusedBlockLimit = 128;

    /// <summary>Whether <see cref="RunFused"/> serves static groups with this block size on this device.</summary>
    public static bool CanFuse(Device device, int blockSize) => device.type == DeviceType.CUDA && blockSize <= FusedBlockLimit;

    /// <summary>
    /// The fused CUDA loop for a batch of static-group matrices of one shape (<see cref="FusedGptqLoop.Run"/>): matrix e
    /// uses factor e mod F, so T tied weights of F Hessians share their factors without copies.
    /// </summary>
    /// <param name="working">(E, columns, rows) float32 contiguous: transposed weights in processing order. Overwritten.</param>
    /// <param name="factors">(F, columns, columns) float32 contiguous Û, F dividing E.</param>
    /// <param name="scale">(E, groups, rows) float32 contiguous.</param>
    /// <param name="zero">(E, groups, rows) float32 contiguous.</param>
    /// <param name="group">(E, columns) int32 contiguous: the group at every processing position.</param>
    /// <param name="spec">The quantizer.</param>
    /// <param name="blockSize">Columns per block, at most 128.</param>
    /// <param name="lossWeight">(F, columns) float32 contiguous loss weights 1/U_jj² (R_jj² for V), or null: no loss.</param>
    /// <param name="stage">Stage announcements (<see cref="GptqBatchSettings.Stages"/>); null: none.</param>
    /// <param name="original">(E, columns, rows) float32 contiguous weights before the loop when the factors are V (see <see cref="Run"/>); null for Û.</param>
    /// <returns>(E, columns, rows) uint8 unsigned codes in processing order; (E, rows) fp64 damped losses when weighted.</returns>
    public static (Tensor Codes, Tensor? Loss) RunFused(
        Tensor working, Tensor factors, Tensor scale, Tensor zero, Tensor group, QuantizerSpec spec, int blockSize, Tensor? lossWeight = null,
        Action<GptqStage>? stage = null, Tensor? original = null)
    {
        var rounding = FusedGptqLoop.RoundingFor(spec.ScaleDtype);
        return FusedGptqLoop.Run(working, factors, scale, zero, group, spec.Bits, blockSize, spec.Rounding == CodeRounding.HalfUp, rounding, lossWeight, stage: stage, original: original);
    }

    private static Tensor Fused(Tensor working, Tensor factor, ColumnGroups groups, QuantizerSpec spec, int blockSize)
    {
        using var scope = NewDisposeScope();
        var wt = working.is_contiguous() ? working.unsqueeze(0) : working.contiguous().unsqueeze(0);
        var codes = RunFused(
            wt,
            factor.contiguous().unsqueeze(0),
            groups.Scale.contiguous().unsqueeze(0),
            groups.Zero.contiguous().unsqueeze(0),
            groups.GroupAtPosition(working.device).unsqueeze(0),
            spec,
            blockSize).Codes;
        if (!working.is_contiguous())
        {
            working.copy_(wt.squeeze(0));
        }

        return codes.squeeze(0).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }
}
